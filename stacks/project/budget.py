"""The budget hold: a team whose monthly GPU budget is spent gets its ClusterQueue put on hold.

`decide` is the whole policy, on ClusterQueue objects as the Kubernetes API returns them and the set
of teams whose `TeamGpuBudgetExhausted` alert fires (components/queueing/budgets.py):

* a team whose alert fires, whose queue is not on hold and was not released by hand this month:
  hold (`spec.stopPolicy: Hold`: admitted jobs finish, new ones wait), annotated with the month;
* a queue this job held in an earlier month: release it (`stopPolicy: None`) — the month's start;
* a queue held by someone else (no hold annotation of ours), or released by hand this month
  (`mlplatform team budget --release`): left alone.

`run_in_cluster` is what the CronJob runs (python -m mlplatform.stacks.project.budget): it reads the
firing alerts from Prometheus' HTTP API and gets and patches each team's ClusterQueue by name with its
service account (RBAC: get and patch on those ClusterQueues only). `release` is the CLI's: it patches
through `kubectl` with the user's own credentials.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import MlplatformError, SpecError

HOLD_ANNOTATION = "mlplatform.io/budget-hold"  # the month (YYYY-MM) the budget job held the queue
RELEASE_ANNOTATION = "mlplatform.io/budget-released"  # the month someone released it by hand
EXHAUSTED_ALERT = "TeamGpuBudgetExhausted"
CQ_PATH = "/apis/kueue.x-k8s.io/v1beta2/clusterqueues"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Action:
    team: str
    op: str  # "hold" | "release"
    reason: str

    def patch(self, month: str) -> dict[str, Any]:
        """The merge patch that carries the action out."""
        if self.op == "hold":
            return {"metadata": {"annotations": {HOLD_ANNOTATION: month}}, "spec": {"stopPolicy": "Hold"}}
        return {"metadata": {"annotations": {HOLD_ANNOTATION: None}}, "spec": {"stopPolicy": "None"}}


def month_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m")


def decide(queues: list[dict[str, Any]], exhausted: set[str], now: datetime) -> list[Action]:
    """What to do with each team's ClusterQueue (see the module docstring)."""
    month = month_of(now)
    out = []
    for q in queues:
        meta, spec = q.get("metadata") or {}, q.get("spec") or {}
        team, ann = meta.get("name", ""), meta.get("annotations") or {}
        held = spec.get("stopPolicy") in ("Hold", "HoldAndDrain")
        ours = ann.get(HOLD_ANNOTATION)
        if held and ours and ours != month:
            out.append(Action(team, "release", f"held for the budget of {ours}; {month} has started"))
        elif team in exhausted and not held and ann.get(RELEASE_ANNOTATION) != month:
            out.append(Action(team, "hold", f"the GPU budget of {month} is spent ({EXHAUSTED_ALERT} fires)"))
    return out


# -- in the cluster (the CronJob) -------------------------------------------------------------------------
def firing_teams(prometheus_url: str, timeout: float = 10) -> set[str]:
    query = urllib.parse.urlencode({"query": f'ALERTS{{alertname="{EXHAUSTED_ALERT}",alertstate="firing"}}'})
    with urllib.request.urlopen(f"{prometheus_url.rstrip('/')}/api/v1/query?{query}", timeout=timeout) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise MlplatformError("prometheus", str(body.get("error", "the query failed")), "check the Prometheus URL")
    return {s["metric"]["cluster_queue"] for s in body["data"]["result"] if "cluster_queue" in s.get("metric", {})}


def _api(method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10) -> dict[str, Any]:
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    ctx = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
    req = urllib.request.Request(
        f"https://{host}:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {(SA_DIR / 'token').read_text().strip()}",
            "Content-Type": "application/merge-patch+json",
            "Accept": "application/json",
        },
    )
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
        return dict(json.load(r))


def run_in_cluster(teams: list[str], prometheus_url: str, now: datetime | None = None) -> list[Action]:
    now = now or datetime.now(UTC)
    queues = [_api("GET", f"{CQ_PATH}/{t}") for t in teams]
    actions = decide(queues, firing_teams(prometheus_url) & set(teams), now)
    for a in actions:
        _api("PATCH", f"{CQ_PATH}/{a.team}", a.patch(month_of(now)))
        print(f"{a.op} {a.team}: {a.reason}", flush=True)
    return actions


# -- from a workstation (the CLI) ---------------------------------------------------------------------
def _kubectl(*args: str, data: str | None = None) -> str:
    try:
        res = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=data, timeout=30)
    except FileNotFoundError:
        raise MlplatformError("kubectl", "is not installed", "install it and point it at the stack's cluster") from None
    if res.returncode != 0:
        said = ((res.stderr or res.stdout).strip().splitlines() or ["failed"])[-1]
        raise MlplatformError(f"kubectl {' '.join(args[:2])}", said, "check that kubectl reaches the stack's cluster")
    return res.stdout


def release(team: str, known: list[str], now: datetime | None = None) -> str:
    """Release a team's held queue for the rest of this month (the job will not hold it again)."""
    if team not in known:
        raise SpecError("TEAM", f"{team!r} is not a team of this stack", f"use one of {', '.join(known) or 'none'}")
    month = month_of(now or datetime.now(UTC))
    patch = {
        "metadata": {"annotations": {HOLD_ANNOTATION: None, RELEASE_ANNOTATION: month}},
        "spec": {"stopPolicy": "None"},
    }
    _kubectl("patch", "clusterqueue", team, "--type", "merge", "-p", json.dumps(patch))
    return month


def cluster_usage(teams: list[str]) -> dict[str, dict[str, Any]] | None:
    """Team -> {admitted GPUs per flavor, stopPolicy} from the cluster's ClusterQueues; None when no
    cluster is reachable with kubectl."""
    try:
        text = _kubectl("get", "clusterqueues", "-o", "json", "--request-timeout=5s")
    except MlplatformError:
        return None
    out: dict[str, dict[str, Any]] = {}
    for q in json.loads(text).get("items", []):
        name = q["metadata"]["name"]
        if name not in teams:
            continue
        gpus: dict[str, str] = {}
        for f in (q.get("status") or {}).get("flavorsUsage") or []:
            for r in f.get("resources") or []:
                if r.get("name") == "nvidia.com/gpu" and str(r.get("total", "0")) != "0":
                    gpus[f["name"]] = str(r["total"])
        out[name] = {"gpus_in_use": gpus, "stop_policy": (q.get("spec") or {}).get("stopPolicy", "None")}
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m mlplatform.stacks.project.budget", description=__doc__)
    p.add_argument("--prometheus", required=True, help="Prometheus base URL")
    p.add_argument("--teams", required=True, help="comma-separated team names (their ClusterQueues)")
    args = p.parse_args(argv)
    try:
        run_in_cluster([t for t in args.teams.split(",") if t], args.prometheus)
    except (OSError, MlplatformError) as e:
        print(f"budget hold: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def team_status(spec: Any, usage: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One row per team for `team list`: quotas, what Kueue may admit, budget, and the cluster's usage
    (`usage` from `cluster_usage`; None: no cluster was reachable, and the rows say so)."""
    from ..config.queues import admissible_gpus, queueing_on, team_gpu_split

    rows = []
    for t in spec.teams:
        row: dict[str, Any] = {**t.model_dump()}
        if queueing_on(spec):
            row["gpus_by_pool"] = team_gpu_split(spec, t)
            row["gpus_admissible"] = admissible_gpus(spec, t)
            if usage is None:
                row["usage"] = "no cluster reachable (kubectl)"
            else:
                row["usage"] = usage.get(t.name, {"gpus_in_use": {}, "stop_policy": "no ClusterQueue yet"})
        rows.append(row)
    return rows
