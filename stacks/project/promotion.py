"""Promotion by pull request and the periodic model review: GitHub API responses -> evidence records.

The generated workflows (`stacks/templates/workflows/`) fetch GitHub REST API responses into files and
pass them to `mlplatform ci evidence-predicate …`, which calls the functions here; the predicate it
prints goes to `mlplatform evidence record KIND --predicate FILE`, so the evidence CLI stays the only
writer of the ledger. Everything here is pure (dicts in, dicts/text out) so the tests feed it recorded
API responses.

* `merged_pull_for_commit(pulls, sha, base)`: the pull request a push to the default branch came from
  (GET /repos/{o}/{r}/commits/{sha}/pulls); a direct push is refused.
* `approval_from_pull_request(pull, reviews)`: the approval predicate from the merged pull request
  (GET /repos/{o}/{r}/pulls/{n}) and its reviews (GET /repos/{o}/{r}/pulls/{n}/reviews): each
  reviewer's latest review, approvals of the merged head commit only, no bots, not the author.
* `approval_from_environment(approvals, environment, run)`: the approval predicate from a run's
  deployment reviews (GET /repos/{o}/{r}/actions/runs/{id}/approvals), for `--approval environment`.
* `released_models(files)`: the models whose `models/<name>/release.yaml` a pull request changed
  (GET /repos/{o}/{r}/pulls/{n}/files).
* `release_yaml(...)` / `read_release(text)`: the release file the promotion pull request changes.
* `review_issue(...)`: the title and body of a periodic review issue; `review_from_issue(issue, events)`
  turns the closed issue (GET /repos/{o}/{r}/issues/{n}) and its timeline
  (GET /repos/{o}/{r}/issues/{n}/timeline) into the review predicate.

A refusal (merged without approval, a direct push, an issue the workflow did not open) raises
`NotApproved`, which the CLI maps to exit code 3: nothing is published or recorded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml

from ..config.spec import SpecError

RELEASE_KIND = "mlplatform.io/release/v1"
RELEASES_DIR = "models"
RELEASE_FILE = "release.yaml"
RELEASE_PATH = re.compile(r"^models/([A-Za-z0-9][A-Za-z0-9._-]{0,62})/release\.yaml$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
REVIEW_OUTCOMES = ("keep", "retrain", "retire")
REVIEW_AUTHOR = "github-actions[bot]"
DEPLOY_ENVIRONMENT = "production"  # the MLflow alias and the ledger's deployment environment
_MARKER = re.compile(r"<!-- mlplatform-review (\{.*?\}) -->")
# Review states that set a reviewer's verdict; COMMENTED and PENDING leave the previous one.
_VERDICTS = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}


class NotApproved(SpecError):
    """A promotion or review that must not be recorded or published (exit code 3)."""

    exit_code = 3


def _flat(pages: Any, what: str) -> list[dict[str, Any]]:
    """A list of objects from one response or `gh api --paginate --slurp` pages (a list of lists)."""
    if isinstance(pages, dict):
        raise SpecError(
            what, "is one object, not the list the endpoint returns", "pass the endpoint's response (a JSON array)"
        )
    if not isinstance(pages, list):
        raise SpecError(what, f"is {type(pages).__name__}, not a JSON array", "pass the endpoint's response")
    out: list[dict[str, Any]] = []
    for item in pages:
        out.extend(item if isinstance(item, list) else [item])
    if not all(isinstance(i, dict) for i in out):
        raise SpecError(what, "holds something other than objects", "pass the endpoint's response")
    return out


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _is_bot(user: Any) -> bool:
    return isinstance(user, dict) and (user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]"))


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


# -- promotion by pull request --------------------------------------------------------------------
def merged_pull_for_commit(pulls: Any, sha: str, base: str) -> dict[str, Any]:
    """The merged pull request whose merge put `sha` on `base` (a direct push has none: refused)."""
    for p in _flat(pulls, "--pulls"):
        if p.get("merged_at") and p.get("merge_commit_sha") == sha and (p.get("base") or {}).get("ref") == base:
            return p
    raise NotApproved(
        "release",
        f"commit {sha[:12]} on {base} was not merged from a pull request, so nobody approved it",
        f"change models/*/release.yaml only through pull requests (protect {base}: README, CI section)",
    )


def approval_from_pull_request(pull: dict[str, Any], reviews: Any) -> dict[str, Any]:
    """The approval predicate of a merged promotion pull request, from its reviews.

    A reviewer counts when their latest verdict (APPROVED / CHANGES_REQUESTED / DISMISSED; comments do
    not change it) is APPROVED and was given on the head commit that was merged; the author and bots
    never count. Refused (NotApproved) when the pull request is not merged, someone's latest verdict is
    a change request, or no approval of the merged commit remains.
    """
    if not isinstance(pull, dict) or "number" not in pull:
        raise SpecError("--pull", "is not a pull request object", "pass GET /repos/{owner}/{repo}/pulls/{number}")
    number, head = pull["number"], (pull.get("head") or {}).get("sha")
    if not pull.get("merged_at") and not pull.get("merged"):
        raise NotApproved("release", f"pull request #{number} is not merged", "merge it after review to promote")
    author = _login(pull.get("user"))
    latest: dict[str, dict[str, Any]] = {}
    for r in sorted(_flat(reviews, "--reviews"), key=lambda r: str(r.get("submitted_at") or "")):
        login = _login(r.get("user"))
        if login and r.get("state") in _VERDICTS and r.get("submitted_at"):
            latest[login] = r
    blocking = sorted(u for u, r in latest.items() if r["state"] == "CHANGES_REQUESTED")
    if blocking:
        raise NotApproved(
            "release",
            f"pull request #{number} was merged with changes requested by {', '.join(blocking)}",
            "revert the merge, address the review, and merge again",
        )
    approvals = [
        r for u, r in latest.items() if r["state"] == "APPROVED" and u != author and not _is_bot(r.get("user"))
    ]
    current = sorted((r for r in approvals if r.get("commit_id") == head), key=lambda r: str(r["submitted_at"]))
    stale = sorted(_login(r["user"]) or "" for r in approvals if r.get("commit_id") != head)
    if not current:
        why = f" (approvals of an earlier commit: {', '.join(stale)})" if stale else ""
        raise NotApproved(
            "release",
            f"pull request #{number} was merged without an approving review of its last commit {str(head)[:12]}{why}",
            "require a CODEOWNERS review on the default branch (README, CI section) and merge a reviewed release",
        )
    logins = [_login(r["user"]) or "" for r in current]  # each has a login: `latest` is keyed by it
    return {
        "approver": ", ".join(logins),
        "method": "pull-request",
        "environment": DEPLOY_ENVIRONMENT,
        "reference": pull.get("html_url"),
        "approvedAt": pull.get("merged_at"),
        "comment": "\n\n".join(f"{_login(r['user'])}: {r['body']}" for r in current if (r.get("body") or "").strip()),
        "approvers": [
            {
                "login": _login(r["user"]),
                "reviewedAt": r["submitted_at"],
                "review": r.get("html_url"),
                "association": r.get("author_association"),
                "commit": r.get("commit_id"),
                "comment": r.get("body") or "",
            }
            for r in current
        ],
        "pullRequest": {
            "number": number,
            "url": pull.get("html_url"),
            "title": pull.get("title"),
            "author": author,
            "headSha": head,
            "mergeCommitSha": pull.get("merge_commit_sha"),
            "mergedAt": pull.get("merged_at"),
            "mergedBy": _login(pull.get("merged_by")),
        },
        "staleApprovals": stale,
    }


def approval_from_environment(approvals: Any, environment: str, run: dict[str, Any], when: str) -> dict[str, Any]:
    """The approval predicate of a run whose job waited in `environment` (its required reviewers).

    `approvals` is GET /repos/{o}/{r}/actions/runs/{id}/approvals; that response carries no time, so
    `when` is the moment the approved job started (the workflow passes it). A rejection, or no approval
    of that environment, is refused.
    """
    mine = [
        a
        for a in _flat(approvals, "--approvals")
        if environment in [e.get("name") for e in a.get("environments") or []]
    ]
    rejected = sorted(_login(a.get("user")) or "" for a in mine if a.get("state") == "rejected")
    if rejected:
        raise NotApproved(
            "release",
            f"{', '.join(rejected)} rejected the deployment to {environment}",
            "run the workflow again after the concerns are addressed",
        )
    approved = [a for a in mine if a.get("state") == "approved" and _login(a.get("user"))]
    if not approved:
        raise NotApproved(
            "release",
            f"no reviewer approved environment {environment} in this run",
            f"add required reviewers to the {environment} environment (Settings > Environments)",
        )
    return {
        "approver": ", ".join(_login(a["user"]) or "" for a in approved),  # each has a login (filtered above)
        "method": "environment",
        "environment": DEPLOY_ENVIRONMENT,  # what the approval lets the model into (the ledger's deployment)
        "githubEnvironment": environment,
        "reference": run.get("url"),
        "approvedAt": when,
        "comment": "\n\n".join(
            f"{_login(a['user'])}: {a['comment']}" for a in approved if (a.get("comment") or "").strip()
        ),
        "approvers": [{"login": _login(a["user"]), "comment": a.get("comment") or ""} for a in approved],
        "workflowRun": {"id": run.get("id"), "url": run.get("url")},
    }


def released_models(files: Any) -> list[str]:
    """The models whose release file a pull request adds or changes (removals publish nothing)."""
    names = set()
    for f in _flat(files, "--files"):
        m = RELEASE_PATH.match(str(f.get("filename", "")))
        if m and f.get("status") != "removed":
            names.add(m.group(1))
    return sorted(names)


# -- the release file -------------------------------------------------------------------------------
def release_path(model: str) -> str:
    return f"{RELEASES_DIR}/{model}/{RELEASE_FILE}"


def _metrics(values: dict[str, Any] | None) -> dict[str, float]:
    return {str(k): float(v) for k, v in sorted((values or {}).items())}


def release_yaml(
    *,
    model: str,
    version: str | int,
    digest: str,
    reference: str,
    run_id: str,
    run_url: str,
    mlflow_url: str,
    metric: str,
    greater_is_better: bool,
    candidate_metrics: dict[str, Any],
    production: dict[str, Any] | None,
    evidence: Iterable[str],
    commit: str,
    created: str,
) -> str:
    """`models/<model>/release.yaml`: the candidate, side by side with the production model it replaces.

    `production`: {"version", "digest", "run_id", "metrics"} of the model behind the `production`
    alias, or None for the first release. `evidence`: the ledger keys of its provenance and evaluation.
    """
    if not MODEL.match(model):
        raise SpecError("model", f"{model!r} is not a model name", "use letters, digits, '.', '_' or '-'")
    if not DIGEST.match(digest):
        raise SpecError("digest", f"{digest!r} is not a sha256 digest", "pass the pushed manifest's digest")
    prod = production or {}
    cand, base = _metrics(candidate_metrics), _metrics(prod.get("metrics"))
    rows = {}
    for key in sorted(set(cand) | set(base)):
        c, p = cand.get(key), base.get(key)
        rows[key] = {"candidate": c, "production": p, "change": None if c is None or p is None else round(c - p, 12)}
    doc = {
        "kind": RELEASE_KIND,
        "model": model,
        "candidate": {
            "version": str(version),
            "digest": digest,
            "reference": reference,
            "mlflow_run": run_id,
            "run_url": run_url,
            "git_commit": commit,
        },
        "production": (
            {"version": str(prod["version"]), "digest": prod.get("digest"), "mlflow_run": prod.get("run_id")}
            if prod
            else None
        ),
        "decided_by": {"metric": metric, "better": "higher" if greater_is_better else "lower"},
        "metrics": rows,
        "links": {"mlflow_run": f"{mlflow_url.rstrip('/')}/#/experiments/-/runs/{run_id}", "workflow_run": run_url},
        "evidence": list(evidence),
        "created": created,
    }
    header = (
        f"# Release of {model} v{version}, written by train-evaluate.yml. Merging the pull request that\n"
        "# changes this file is the approval: model-publish.yml then tags the artifact below, moves the\n"
        "# MLflow `production` alias to this version and records the approval in the evidence ledger.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def read_release(text: str, where: str = RELEASE_FILE) -> dict[str, Any]:
    """A release file, checked: kind, model name, version and digest (the values publish acts on)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(
            where, f"is not YAML ({str(e).splitlines()[0]})", "restore the file the workflow wrote"
        ) from None
    if not isinstance(doc, dict) or doc.get("kind") != RELEASE_KIND:
        raise SpecError(where, f"is not a release file (kind {RELEASE_KIND})", "restore the file the workflow wrote")
    cand = doc.get("candidate") or {}
    if not MODEL.match(str(doc.get("model", ""))):
        raise SpecError(f"{where}: model", f"{doc.get('model')!r} is not a model name", "restore the file")
    if not DIGEST.match(str(cand.get("digest", ""))):
        raise SpecError(
            f"{where}: candidate.digest", f"{cand.get('digest')!r} is not a sha256 digest", "restore the file"
        )
    if not re.fullmatch(r"[0-9]{1,9}", str(cand.get("version", ""))):
        raise SpecError(
            f"{where}: candidate.version", f"{cand.get('version')!r} is not an MLflow model version", "restore the file"
        )
    return doc


def release_body(doc: dict[str, Any]) -> str:
    """The promotion pull request's description: what merging it does, and the metrics side by side."""
    cand, prod, decided = doc["candidate"], doc.get("production"), doc["decided_by"]

    def cell(v: Any) -> str:
        return "" if v is None else f"{v:.6g}"

    lines = [
        f"## Promote `{doc['model']}` v{cand['version']}",
        "",
        f"Merging this pull request approves it: `model-publish.yml` then tags `{cand['digest']}` as "
        f"`{doc['model']}-v{cand['version']}`, moves the MLflow alias `production` to version "
        f"{cand['version']} and records the approval (your review) and the deployment in the evidence ledger.",
        "",
        f"- candidate: MLflow run [`{cand['mlflow_run']}`]({doc['links']['mlflow_run']}), "
        f"workflow run {cand['run_url']}, commit `{cand['git_commit']}`",
        "- production now: " + (f"v{prod['version']} (`{prod['digest']}`)" if prod else "none (first release)"),
        f"- decided by `{decided['metric']}` ({decided['better']} is better)",
        "",
        "| metric | candidate | production | change |",
        "|---|---:|---:|---:|",
    ]
    for key, row in doc["metrics"].items():
        mark = " (decides)" if key == decided["metric"] else ""
        lines.append(f"| {key}{mark} | {cell(row['candidate'])} | {cell(row['production'])} | {cell(row['change'])} |")
    if doc.get("evidence"):
        lines += ["", "Evidence records: " + ", ".join(f"`{k}`" for k in doc["evidence"])]
    return "\n".join(lines) + "\n"


# -- periodic review -------------------------------------------------------------------------------
def serving_queries(model: str, version: str, period_days: int, offset_days: int = 0) -> dict[str, str]:
    """PromQL over one period of the model-serving metrics (components/dashboards.MODEL_METRICS)."""
    sel = f'model="{model}", version="{version}"'
    window = f"[{period_days}d]" + (f" offset {offset_days}d" if offset_days else "")

    def rate(metric: str, extra: str = "") -> str:
        return f"sum(rate({metric}{{{sel}{extra}}}{window}))"

    def quantile(q: float, metric: str) -> str:
        return f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{sel}}}{window})))"

    errors = ', code=~"5.."'
    return {
        "request_rate": rate("model_requests_total"),
        "error_ratio": f"{rate('model_requests_total', errors)} / {rate('model_requests_total')}",
        "latency_p50": quantile(0.5, "model_request_duration_seconds"),
        "latency_p95": quantile(0.95, "model_request_duration_seconds"),
        "prediction_mean": f"{rate('model_prediction_value_sum')} / {rate('model_prediction_value_count')}",
        "prediction_p10": quantile(0.1, "model_prediction_value"),
        "prediction_p50": quantile(0.5, "model_prediction_value"),
        "prediction_p90": quantile(0.9, "model_prediction_value"),
        "class_share": f"sum by (class) (rate(model_predictions_total{{{sel}}}{window})) / ignoring (class) "
        f"group_left {rate('model_predictions_total')}",
    }


SERVING_LABELS = {
    "request_rate": ("requests/s", "{:.4g}"),
    "error_ratio": ("5xx share", "{:.2%}"),
    "latency_p50": ("latency p50 (s)", "{:.4g}"),
    "latency_p95": ("latency p95 (s)", "{:.4g}"),
    "prediction_mean": ("prediction mean", "{:.4g}"),
    "prediction_p10": ("prediction p10", "{:.4g}"),
    "prediction_p50": ("prediction p50", "{:.4g}"),
    "prediction_p90": ("prediction p90", "{:.4g}"),
}


def _samples(response: Any) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of a Prometheus /api/v1/query response; [] for no data or an error."""
    if not isinstance(response, dict) or response.get("status") != "success":
        return []
    out = []
    for s in (response.get("data") or {}).get("result") or []:
        try:
            value = float(s["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        if not math.isnan(value):  # NaN: no requests in the period
            out.append((s.get("metric") or {}, value))
    return out


def training_cost(runs: Iterable[dict[str, Any]], gpus_per_run: int, hourly_price: float | None) -> dict[str, Any]:
    """GPU-hours and cost of training runs ({"start_time", "end_time"} in ms since the epoch, as MLflow)."""
    hours = 0.0
    count = 0
    for r in runs:
        start, end = r.get("start_time"), r.get("end_time")
        if start is not None and end is not None and end > start:
            hours += (end - start) / 3_600_000
            count += 1
    gpu_hours = hours * gpus_per_run
    return {
        "runs": count,
        "gpu_hours": round(gpu_hours, 3),
        "cost": None if hourly_price is None or not gpus_per_run else round(hours * hourly_price, 2),
    }


def review_marker(model: str, version: str, digest: str | None, due: date) -> str:
    return (
        "<!-- mlplatform-review "
        + json.dumps(
            {"model": model, "version": str(version), "digest": digest, "due": due.isoformat()}, sort_keys=True
        )
        + " -->"
    )


def review_title(model: str, version: str) -> str:
    return f"Review {model} v{version}"


def review_issue(
    *,
    model: str,
    version: str,
    digest: str | None,
    live: dict[str, Any] | None,
    approval_metrics: dict[str, Any],
    serving: dict[str, Any],
    serving_before: dict[str, Any],
    training: dict[str, Any],
    training_period: dict[str, Any],
    instance_type: str | None,
    hourly_price: float | None,
    period_days: int,
    today: date,
    due_days: int,
) -> tuple[str, str]:
    """(title, body) of the periodic review issue of one live model.

    `live`: the "live" object of `mlplatform evidence at NOW --model M --json` (None: nothing live in the ledger);
    `serving`/`serving_before`: {query name: Prometheus response} of the last period and the one before
    (`serving_queries`); `training`/`training_period`: `training_cost` of all its runs / the period's.
    """
    due = today + timedelta(days=due_days)
    live = live or {}

    def who(v: Any) -> str:
        names = v if isinstance(v, list) else [x.strip() for x in str(v or "").split(",") if x.strip()]
        return ", ".join(f"@{x}" for x in names) or "unknown (no approval in the ledger)"

    lines = [
        f"Periodic review of **{model}** v{version}, live in `production`. Decide by {due.isoformat()}: "
        "close this issue with one of the labels `keep`, `retrain` or `retire` (and a comment saying why); "
        "the closing is recorded as a review in the evidence ledger.",
        "",
        "### Live model",
        "",
        f"- artifact: `{digest or live.get('digest') or 'unknown'}`",
        f"- live since: {live.get('live_since') or 'unknown (no deployment in the ledger)'}",
        f"- approved by: {who(live.get('approved_by'))}"
        + (f" at {live['approved_at']}" if live.get("approved_at") else ""),
        f"- trained from commit: `{(live.get('trained_from') or {}).get('commit') or 'unknown'}`",
        "",
        "### Metrics at approval (MLflow evaluation of the run)",
        "",
        "| metric | value |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {float(v):.6g} |" for k, v in sorted(approval_metrics.items())] or ["| (none logged) | |"]
    lines += [
        "",
        f"### Serving, last {period_days} days vs the {period_days} days before (Prometheus)",
        "",
        "| metric | last period | period before |",
        "|---|---:|---:|",
    ]
    for name, (label, fmt) in SERVING_LABELS.items():
        now, before = _samples(serving.get(name)), _samples(serving_before.get(name))
        cells = [fmt.format(s[0][1]) if s else "no data" for s in (now, before)]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    shares = {m.get("class", ""): v for m, v in _samples(serving.get("class_share"))}
    before_shares = {m.get("class", ""): v for m, v in _samples(serving_before.get("class_share"))}
    for cls in sorted(set(shares) | set(before_shares)):
        cells = [f"{d[cls]:.2%}" if cls in d else "no data" for d in (shares, before_shares)]
        lines.append(f"| class {cls} share | {cells[0]} | {cells[1]} |")
    lines.append("")
    lines.append('"no data": the model exposes no such metric, or the period is beyond Prometheus\' retention.')
    price = (
        f"{instance_type} on-demand at ${hourly_price:g}/h (spot costs less: an upper bound)"
        if hourly_price is not None
        else f"{instance_type or 'the GPU instance'}: not in the price file"
    )

    def money(t: dict[str, Any]) -> str:
        return "not priced" if t.get("cost") is None else f"${t['cost']:,.2f}"

    lines += [
        "",
        "### Training (its MLflow experiment's runs)",
        "",
        "| | runs | GPU-hours | cost |",
        "|---|---:|---:|---:|",
        f"| last {period_days} days | {training_period['runs']} | {training_period['gpu_hours']:g} | "
        f"{money(training_period)} |",
        f"| all time | {training['runs']} | {training['gpu_hours']:g} | {money(training)} |",
        "",
        f"Priced as {price}.",
        "",
        "### Decision",
        "",
        "- [ ] **keep**: it still does its job; close with the label `keep`",
        "- [ ] **retrain**: it drifted or fell behind; close with `retrain` (then run train-evaluate)",
        "- [ ] **retire**: take it out of service; close with `retire`",
        "",
        f"Due: **{due.isoformat()}**.",
        "",
        review_marker(model, version, digest or live.get("digest"), due),
    ]
    return review_title(model, version), "\n".join(lines) + "\n"


def review_from_issue(issue: dict[str, Any], events: Any) -> tuple[str, str, dict[str, Any]]:
    """(model, digest, review predicate) of a closed review issue and its timeline (or events).

    Refused (NotApproved) when the issue was not opened by the review workflow, carries no review
    marker, is not closed, or is closed without exactly one of the labels keep / retrain / retire.
    """
    if not isinstance(issue, dict) or "number" not in issue:
        raise SpecError("--issue", "is not an issue object", "pass GET /repos/{owner}/{repo}/issues/{number}")
    number = issue["number"]
    if _login(issue.get("user")) != REVIEW_AUTHOR:
        raise NotApproved(
            "review",
            f"issue #{number} was opened by {_login(issue.get('user'))}, not by the review workflow",
            "only the issues model-review.yml opens are recorded",
        )
    m = _MARKER.search(issue.get("body") or "")
    try:
        marker = json.loads(m.group(1)) if m else None
    except json.JSONDecodeError:
        marker = None
    if (
        not isinstance(marker, dict)
        or not MODEL.match(str(marker.get("model", "")))
        or not DIGEST.match(str(marker.get("digest", "")))
    ):
        raise NotApproved(
            "review",
            f"issue #{number} has no valid review marker (model and digest)",
            "keep the <!-- mlplatform-review … --> line model-review.yml wrote",
        )
    if issue.get("state") != "closed":
        raise NotApproved("review", f"issue #{number} is not closed", "close it with keep, retrain or retire")
    labels = sorted(
        {str(lb.get("name")) for lb in issue.get("labels") or [] if isinstance(lb, dict)} & set(REVIEW_OUTCOMES)
    )
    if len(labels) != 1:
        raise NotApproved(
            "review",
            f"issue #{number} was closed with "
            + (f"the labels {', '.join(labels)}" if labels else "none of the labels keep, retrain, retire"),
            "label it with exactly one of keep, retrain, retire and close it again",
        )
    timeline = _flat(events, "--events")
    closes = [e for e in timeline if e.get("event") == "closed"]
    closed = closes[-1] if closes else {}
    reviewer = _login(closed.get("actor")) or _login(issue.get("closed_by"))
    when = closed.get("created_at") or issue.get("closed_at")
    labelled = [e for e in timeline if e.get("event") == "labeled" and (e.get("label") or {}).get("name") == labels[0]]
    comments = [
        e for e in timeline if e.get("event") == "commented" and _login(e.get("user") or e.get("actor")) == reviewer
    ]
    due = marker.get("due")
    predicate = {
        "reviewer": reviewer,
        "outcome": labels[0],
        "comment": (comments[-1].get("body") or "") if comments else "",
        "reference": issue.get("html_url"),
        "environment": DEPLOY_ENVIRONMENT,
        "reviewedAt": when,
        "labelledBy": _login(labelled[-1].get("actor")) if labelled else None,
        "version": marker.get("version"),
        "due": due,
        "overdue": bool(due and when and _time(when).date() > date.fromisoformat(due)),
        "issue": {
            "number": number,
            "title": issue.get("title"),
            "openedAt": issue.get("created_at"),
            "stateReason": issue.get("state_reason"),
        },
    }
    return marker["model"], marker["digest"], predicate


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
