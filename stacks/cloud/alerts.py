"""`mlplatform alerts test`: send a test alert through the stack's live Alertmanager.

An engine verb: it needs the cluster. It reads the stack's plan for where Alertmanager runs (the
kube-prometheus-stack release's namespace and fullname: Service `<fullname>-alertmanager`, port 9093),
opens `kubectl port-forward` to it on 127.0.0.1, and POSTs one alert per receiver to Alertmanager's v2
API: `alertname=MlplatformTestAlert`, `mlplatform_test_receiver=<name>`, which the configuration routes
to that receiver only (components/alerting.py). Without kubectl, a cluster context or a reachable
Alertmanager it says which and exits 1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlplatform.components.alerting import TEST_ALERTNAME, TEST_RECEIVER_LABEL, AlertsArgs

from ..errors import MlplatformError, SpecError, UsageError

ALERTMANAGER_PORT = 9093
KUBECTL_INSTALL = "install kubectl (https://kubernetes.io/docs/tasks/tools/) and point it at the stack's cluster"


class AlertsError(MlplatformError):
    """The live Alertmanager could not be reached or refused the alert (exit 1)."""


@dataclass(frozen=True)
class AlertmanagerTarget:
    namespace: str
    service: str


def alertmanager_of(plan: Any) -> AlertmanagerTarget:
    """Where the plan's Alertmanager runs (the bundled kube-prometheus-stack release)."""
    for r in plan.resources:
        if r.type != "kubernetes:helm.sh/v3:Release":
            continue
        if str(r.inputs.get("chart", "")).rsplit("/", 1)[-1] != "kube-prometheus-stack":
            continue
        values = r.inputs.get("values") or {}
        if not (values.get("alertmanager") or {}).get("enabled", True):
            raise SpecError("monitoring.alertmanager", "is off: there is no Alertmanager to test", "set it to true")
        fullname = values.get("fullnameOverride") or r.inputs.get("name")
        return AlertmanagerTarget(str(r.inputs.get("namespace")), f"{fullname}-alertmanager")
    raise SpecError(
        "monitoring.existing",
        "the stack adopts a kube-prometheus-stack release, whose Alertmanager it does not configure",
        "test that release's receivers where it is managed",
    )


def build_test_alerts(alerts: AlertsArgs, receiver: str | None, now: datetime | None = None) -> list[dict[str, Any]]:
    """The alerts to POST: one per receiver (or the one named), each routed to that receiver only."""
    names = [r.name for r in alerts.receivers]
    if not names:
        raise SpecError(
            "monitoring.alerts.receivers", "is empty: there is no receiver to test", "add one (README: Where alerts go)"
        )
    if receiver is not None and receiver not in names:
        raise UsageError(
            "--receiver", f"{receiver!r} is not a receiver of this stack", f"use one of {', '.join(names)}"
        )
    start = now or datetime.now(UTC)
    out = []
    for name in [receiver] if receiver else names:
        out.append(
            {
                "labels": {
                    "alertname": TEST_ALERTNAME,
                    TEST_RECEIVER_LABEL: name,
                    "severity": next(r for r in alerts.receivers if r.name == name).severities[0],
                },
                "annotations": {
                    "summary": f"Test alert from `mlplatform alerts test` for receiver {name}",
                    "description": "If you read this, alerts of this stack reach this receiver. Nothing is wrong.",
                },
                "startsAt": start.isoformat(),
                "endsAt": (start + timedelta(minutes=5)).isoformat(),
            }
        )
    return out


def post_alerts(base_url: str, alerts: list[dict[str, Any]], timeout: float = 10.0) -> None:
    """POST to Alertmanager's v2 API; AlertsError with its answer when it refuses."""
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as e:
        raise AlertsError(
            "alertmanager", f"refused the test alert ({e.code}: {e.read().decode()[:200]})", "see its log"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        raise AlertsError("alertmanager", f"not reachable at {base_url} ({e})", "check the Alertmanager pod") from e


@contextmanager
def port_forward(
    target: AlertmanagerTarget, which: Callable[[str], str | None] = shutil.which, timeout: float = 20.0
) -> Iterator[str]:
    """`kubectl port-forward` to the Alertmanager Service on 127.0.0.1; yields its base URL."""
    kubectl = which("kubectl")
    if kubectl is None:
        raise AlertsError("kubectl", "not on PATH: `alerts test` needs the stack's cluster", KUBECTL_INSTALL)
    proc = subprocess.Popen(
        [
            kubectl,
            "-n",
            target.namespace,
            "port-forward",
            "--address",
            "127.0.0.1",
            f"svc/{target.service}",
            f":{ALERTMANAGER_PORT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 9093", or EOF on failure
        found = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not found:
            proc.wait(timeout=timeout)
            err = (proc.stderr.read().strip().splitlines() or ["no answer"])[0]
            raise AlertsError(
                "cluster",
                f"cannot reach svc/{target.service} in namespace {target.namespace} ({err})",
                "run the stack's kubeconfig command (`mlplatform outputs`), check `kubectl get pods -n "
                f"{target.namespace}`",
            )
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def send_test_alerts(plan: Any, alerts: AlertsArgs, receiver: str | None = None) -> list[str]:
    """Send the test alert(s) through the live Alertmanager; the receivers they went to."""
    batch = build_test_alerts(alerts, receiver)
    with port_forward(alertmanager_of(plan)) as url:
        post_alerts(url, batch)
    return [a["labels"][TEST_RECEIVER_LABEL] for a in batch]
