"""Questions asked of the ledger: the timeline (`log`), what was live when (`at`), and `verify`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import records as R
from .dsse import PAYLOAD_TYPE, sha256_hex, verify_envelope
from .errors import EvidenceError
from .ledger import DEFAULT_REVIEW_DAYS, FUTURE_SLACK, KEY_RE, Ledger, Record


def short(digest: str | None) -> str:
    return digest.split(":", 1)[1][:12] if digest else "-"


def _who(rec: Record) -> str:
    p = rec.predicate
    if rec.kind == "approval":
        return str(p.get("approver") or "-")
    if rec.kind == "review":
        return str(p.get("reviewer") or "-")
    by = str(rec.link.get("recordedBy") or "-")
    return by.rsplit("/", 1)[-1] if by.startswith("arn:") else by


def _metrics(m: Any) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in (m or {}).items())


def _provenance_facts(p: dict[str, Any]) -> dict[str, Any]:
    bd = p.get("buildDefinition") or {}
    deps = bd.get("resolvedDependencies") or []
    role = lambda d: (d.get("annotations") or {}).get(R.ROLE)  # noqa: E731
    commit = next((d["digest"]["gitCommit"] for d in deps if (d.get("digest") or {}).get("gitCommit")), None)
    image = next(
        (
            f"{d.get('uri', '').removeprefix('oci://')}@{R.digest_of(d.get('digest'))}"
            for d in deps
            if role(d) == "image"
        ),
        None,
    )
    data = []
    for d in deps:
        if role(d) == "data":
            vid = (d.get("annotations") or {}).get("s3VersionId")
            data.append(
                f"{d['uri']}?versionId={vid}"
                if vid
                else (f"{d['uri']}@" if d.get("uri") else "") + str(R.digest_of(d.get("digest")))
            )
    meta = (p.get("runDetails") or {}).get("metadata") or {}
    return {
        "commit": commit,
        "repository": (bd.get("externalParameters") or {}).get("repository"),
        "workflow_run": meta.get("invocationId"),
        "training_image": image,
        "mlflow_run": (bd.get("internalParameters") or {}).get("mlflowRunId"),
        "version": (bd.get("internalParameters") or {}).get("version"),
        "data": data,
    }


def summary(rec: Record) -> str:
    p, k = rec.predicate, rec.kind
    if k == "provenance":
        f = _provenance_facts(p)
        parts = (
            [f"commit {str(f['commit'])[:12]}"]
            + ([f"run {f['workflow_run']}"] if f["workflow_run"] else [])
            + [f"{len(f['data'])} data version(s)"]
        )
        return ", ".join(parts)
    if k == "evaluation":
        base = p.get("baseline") or {}
        out = _metrics(p.get("metrics"))
        if base:
            out += f" vs {short(R.digest_of(base.get('digest')))}" + (
                f" ({_metrics(base.get('metrics'))})" if base.get("metrics") else ""
            )
        if p.get("passed") is not None:
            out += ", passed" if p["passed"] else ", failed"
        return out
    if k == "approval":
        return f"approved via {p.get('method')}" + (f": {p['comment']}" if p.get("comment") else "")
    if k == "deployment":
        return f"{p.get('environment')}: {short(R.digest_of(p.get('from')))} -> {short(rec.subject)}" + (
            f" (version {p['version']})" if p.get("version") else ""
        )
    if k == "observation":
        running = [short(R.digest_of(d)) for d in p.get("running") or []]
        return f"{p.get('environment')}: runs {', '.join(running) or 'nothing'} ({len(p.get('pods') or [])} pods)"
    if k == "review":
        return f"{p.get('outcome')}" + (f": {p['comment']}" if p.get("comment") else "")
    if k == "rollback":
        failed = p.get("analysis") or {}
        return (
            f"{p.get('environment')}: {short(R.digest_of(p.get('from')))} -> {short(rec.subject)} ({p.get('reason')})"
            + (f", analysis {failed.get('name')} {failed.get('status')}" if failed else "")
        )
    return rec.problem or "unreadable record"


def timeline(ledger: Ledger, model: str) -> list[dict[str, Any]]:
    """The model's records, oldest first: seq, time, kind, digest, who, summary, key."""
    return [
        {
            "seq": r.seq,
            "time": R.iso(r.when) if r.when else None,
            "kind": r.kind,
            "digest": r.subject,
            "who": _who(r),
            "summary": summary(r),
            "key": r.key,
        }
        for r in ledger.read(model)
    ]


# -- at -------------------------------------------------------------------------------------------
def live_at(ledger: Ledger, model: str, when: datetime, environment: str = R.DEFAULT_ENVIRONMENT) -> dict[str, Any]:
    """What was live in `environment` at `when`: digest, version, live since, approved by, trained from, metrics."""
    recs = [r for r in ledger.read(model) if not r.problem]
    deployments = sorted(  # (when, record): only dated records count
        ((r.when, r) for r in recs if r.kind == "deployment" and r.environment == environment and r.when is not None),
        key=lambda p: (p[0], p[1].seq),
    )
    # A rollback puts its subject live (`serve rollback`); an aborted canary's rollback names the stable
    # model, which stayed live all along: it does not move "live since".
    changes = sorted(
        (
            (r.when, r)
            for r in recs
            if r.kind in ("deployment", "rollback") and r.environment == environment and r.when is not None
        ),
        key=lambda p: (p[0], p[1].seq),
    )
    current: list[tuple[datetime, Record]] = []
    rollbacks: list[Record] = []
    for w, r in changes:
        if w > when:
            break
        if r.kind == "rollback":
            rollbacks.append(r)
            if R.digest_of(r.predicate.get("from")) == r.subject:  # a first rollout failed: nothing serves
                current = []
                continue
            if current and current[-1][1].subject == r.subject:
                continue
        current.append((w, r))
    answer: dict[str, Any] = {"model": model, "environment": environment, "at": R.iso(when), "live": None}
    if not current:
        answer["first_deployment"] = R.iso(deployments[0][0]) if deployments else None
        return answer
    dep_when, dep = current[-1]
    digest = dep.subject
    before = [r for r in recs if r.seq < dep.seq and r.subject == digest]
    approval = next(
        (r for r in reversed(before) if r.kind == "approval" and r.predicate.get("environment") in (None, environment)),
        None,
    )
    prov = next((r for r in reversed(before) if r.kind == "provenance"), None)
    ev = next((r for r in reversed(before) if r.kind == "evaluation"), None)
    facts = _provenance_facts(prov.predicate) if prov else {}
    observed = [
        (r.when, r)
        for r in recs
        if r.kind == "observation" and r.environment == environment and r.when is not None and r.when <= when
    ]
    obs_when, obs = max(observed, key=lambda p: (p[0], p[1].seq)) if observed else (when, None)
    answer["live"] = {
        "digest": digest,
        "version": dep.predicate.get("version") or facts.get("version"),
        "live_since": R.iso(dep_when),
        "replaced": R.digest_of(dep.predicate.get("from")),
        "deployment": dep.key,
        "by": dep.kind,  # deployment | rollback
        "last_rollback": (
            {
                "key": rollbacks[-1].key,
                "at": R.iso(rollbacks[-1].when) if rollbacks[-1].when else None,
                "reason": rollbacks[-1].predicate.get("reason"),
                "failed": R.digest_of(rollbacks[-1].predicate.get("from")),
                "analysis": rollbacks[-1].predicate.get("analysis"),
            }
            if rollbacks
            else None
        ),
        "approved_by": approval.predicate.get("approver") if approval else None,
        "approved_via": approval.predicate.get("method") if approval else None,
        "approved_at": R.iso(approval.when) if approval and approval.when else None,
        "trained_from": {
            k: facts.get(k) for k in ("commit", "repository", "workflow_run", "training_image", "mlflow_run", "data")
        }
        if prov
        else None,
        "evaluation": {
            "metrics": ev.predicate.get("metrics"),
            "thresholds": ev.predicate.get("thresholds"),
            "baseline": ev.predicate.get("baseline"),
            "passed": ev.predicate.get("passed"),
        }
        if ev
        else None,
        "observed": {"at": R.iso(obs_when), "running": [R.digest_of(d) for d in obs.predicate.get("running") or []]}
        if obs
        else None,
    }
    return answer


# -- verify ---------------------------------------------------------------------------------------
@dataclass
class Break:
    model: str
    seq: int | None
    kind: str
    message: str
    key: str | None = None

    def line(self) -> str:
        at = f" seq {self.seq}" if self.seq is not None and self.seq >= 0 else ""
        return f"{self.model}{at}: {self.kind}: {self.message}" + (f" ({self.key})" if self.key else "")

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "seq": self.seq, "kind": self.kind, "message": self.message, "key": self.key}


@dataclass
class VerifyReport:
    ledger: str
    models: list[str] = field(default_factory=list)
    records: int = 0
    breaks: list[Break] = field(default_factory=list)
    key_source: str = ""

    @property
    def ok(self) -> bool:
        return not self.breaks

    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger,
            "models": self.models,
            "records": self.records,
            "ok": self.ok,
            "key": self.key_source,
            "breaks": [b.to_dict() for b in self.breaks],
        }


def verify(
    ledger: Ledger,
    model: str | None = None,
    public_key: bytes | None = None,
    review_days: int = DEFAULT_REVIEW_DAYS,
    now: datetime | None = None,
) -> VerifyReport:
    """Check every record of the ledger (or of one model); each finding is a Break."""
    if review_days < 1:
        raise EvidenceError("--review-days", f"{review_days} is not a number of days", "use 1 or more")
    now = now or R.now_utc()
    key, key_arn = ledger.public_key(public_key)
    report = VerifyReport(
        ledger.location.url, key_source="--public-key" if public_key is not None else f"KMS public key of {key_arn}"
    )
    if model is not None:
        R.check_model(model)
        ledger.check_exists()
        models = [model]
    else:
        models = ledger.models()
        if not models:
            raise EvidenceError(
                "--ledger",
                f"{ledger.location.url} holds no records",
                "check --ledger (and its prefix), or record something first",
            )
    for m in models:
        versions = ledger.versions(m)
        if model is not None and not versions:
            raise ledger._unknown(m)
        report.models.append(m)
        report.breaks += _verify_model(ledger, m, versions, key, key_arn, review_days, now, report)
    return report


def _verify_model(
    ledger: Ledger,
    model: str,
    versions: dict[str, list[dict[str, Any]]],
    key: Any,
    key_arn: str | None,
    review_days: int,
    now: datetime,
    report: VerifyReport,
) -> list[Break]:
    breaks: list[Break] = []
    to_read: list[tuple[str, str | None]] = []
    for k, vs in versions.items():
        seq = _seq(k)
        objects = [v for v in vs if not v["DeleteMarker"]]
        if len(objects) > 1:
            breaks.append(
                Break(
                    model,
                    seq,
                    "overwritten",
                    f"the record has {len(objects)} versions: it was written again after it was recorded (tampering)",
                    k,
                )
            )
        if any(v["DeleteMarker"] for v in vs):
            breaks.append(Break(model, seq, "deleted", "the record has a delete marker: someone deleted it", k))
        if objects:
            to_read.append((k, objects[0].get("VersionId")))  # the first version: what was recorded
    recs = ledger.fetch(model, to_read)
    report.records += len(recs)

    by_seq: dict[int, list[Record]] = {}
    for r in recs:
        problem = _check_record(r, model, key, key_arn)
        if problem:
            kind, msg = problem
            breaks.append(Break(model, r.seq, kind, msg, r.key))
            if kind in ("unreadable", "bad key"):
                continue
        by_seq.setdefault(r.seq, []).append(r)

    # the hash chain
    top = max(by_seq, default=0)
    for s in range(1, top + 1):
        here = by_seq.get(s)
        if not here:
            breaks.append(Break(model, s, "chain gap", f"record {s} is missing: records run to {top}"))
            continue
        if len(here) > 1:
            breaks.append(
                Break(
                    model,
                    s,
                    "fork",
                    f"{len(here)} records claim seq {s}: " + ", ".join(r.key.rsplit("/", 1)[-1] for r in here),
                )
            )
            continue
        rec = here[0]
        prev = rec.link.get("previous")
        if s == 1:
            if prev is not None:
                breaks.append(
                    Break(model, s, "chain broken", f"the first record names a previous one ({prev})", rec.key)
                )
        elif by_seq.get(s - 1) and len(by_seq[s - 1]) == 1 and prev != by_seq[s - 1][0].digest:
            breaks.append(
                Break(
                    model,
                    s,
                    "chain broken",
                    f"it names previous {prev}, but record {s - 1} is {by_seq[s - 1][0].digest}",
                    rec.key,
                )
            )

    # what the records say, in chain order
    chain = [rs[0] for s, rs in sorted(by_seq.items()) if len(rs) == 1]
    approved: dict[str, set[str | None]] = {}
    provenance: set[str] = set()
    live: dict[str, Record] = {}  # environment -> its latest deployment
    reviewed: dict[str, datetime] = {}  # digest -> last review
    for r in chain:
        d, when, recorded = r.subject, r.when, r.recorded_at
        if when and recorded and when > recorded + FUTURE_SLACK:
            breaks.append(
                Break(
                    model,
                    r.seq,
                    "time",
                    f"it says it happened at {R.iso(when)}, after it was recorded ({R.iso(recorded)})",
                    r.key,
                )
            )
        if r.kind == "provenance":
            provenance.update(r.subjects)
        elif r.kind == "approval":
            for subject in r.subjects:
                approved.setdefault(subject, set()).add(r.predicate.get("environment"))
        elif r.kind == "review" and when:
            for subject in r.subjects:
                reviewed[subject] = max(reviewed.get(subject, when), when)
        elif r.kind == "deployment":
            env = r.environment
            envs = approved.get(d, set()) if d is not None else set()
            if not _approved_for(envs, env):
                breaks.append(
                    Break(
                        model,
                        r.seq,
                        "deployment without approval",
                        f"{env} moved to {d} with no earlier approval of that digest",
                        r.key,
                    )
                )
            if d not in provenance:
                breaks.append(
                    Break(
                        model,
                        r.seq,
                        "deployment without provenance",
                        f"{env} moved to {d} with no earlier provenance of that digest",
                        r.key,
                    )
                )
            live[env] = r
        elif r.kind == "rollback":
            env = r.environment
            envs = approved.get(d, set()) if d is not None else set()
            if not _approved_for(envs, env):
                breaks.append(
                    Break(
                        model,
                        r.seq,
                        "rollback without approval",
                        f"{env} went back to {d}, which was never approved there",
                        r.key,
                    )
                )
            if R.digest_of(r.predicate.get("from")) == d:  # a first rollout failed: nothing serves
                live.pop(env, None)
            elif env not in live or live[env].subject != d:  # an aborted canary leaves the live model live
                live[env] = r
        elif r.kind == "observation":
            env = r.environment
            running = {R.digest_of(x) for x in r.predicate.get("running") or []}
            dep = live.get(env)
            # An approved release may run while its canary is in progress: its deployment (or rollback)
            # record is written when the rollout ends.
            canaries = {x for x in running if x is not None and _approved_for(approved.get(x, set()), env)}
            running -= canaries
            if dep is None:
                if running:
                    breaks.append(
                        Break(
                            model,
                            r.seq,
                            "observation disagrees",
                            f"{env} ran {', '.join(sorted(map(str, running)))} before any deployment there",
                            r.key,
                        )
                    )
                continue
            allowed = {dep.subject, R.digest_of(dep.predicate.get("from"))}
            stray = sorted(str(x) for x in running - allowed)
            if stray:
                breaks.append(
                    Break(
                        model,
                        r.seq,
                        "observation disagrees",
                        f"{env} ran {', '.join(stray)} but was deployed to {dep.subject} (seq {dep.seq})",
                        r.key,
                    )
                )
    for env, dep in sorted(live.items()):
        since = dep.when or dep.recorded_at
        if since is None:
            continue
        last = max(since, reviewed.get(dep.subject, since) if dep.subject is not None else since)
        if now - last > timedelta(days=review_days):
            what = "last reviewed" if last > since else "deployed, never reviewed,"
            breaks.append(
                Break(
                    model,
                    dep.seq,
                    "review overdue",
                    f"{env} runs {dep.subject}, {what} "
                    f"{R.iso(last)}: {(now - last).days} days ago (more than {review_days})",
                    dep.key,
                )
            )
    return sorted(breaks, key=lambda b: (b.seq if b.seq is not None else 1 << 40, b.kind))


def _approved_for(envs: set[str | None], env: str) -> bool:
    """An approval names no environment (any), this one, or production: a release approved for
    production passes the environments before it (staging) on the way."""
    return None in envs or env in envs or (env != R.DEFAULT_ENVIRONMENT and R.DEFAULT_ENVIRONMENT in envs)


def _seq(key: str) -> int:
    m = KEY_RE.match(key.rsplit("/", 1)[-1])
    return int(m["seq"]) if m else -1


def _check_record(r: Record, model: str, key: Any, key_arn: str | None) -> tuple[str, str] | None:
    """(kind, message) of the first thing wrong with one record on its own, else None."""
    if r.seq < 0:
        return "bad key", r.problem or "not a ledger key"
    if sha256_hex(r.body) != r.hex:
        return "altered", f"its content hashes to sha256:{sha256_hex(r.body)}, not the digest in its key"
    if r.problem or r.envelope is None:
        return "unreadable", r.problem or "no envelope"
    if r.envelope.payload_type != PAYLOAD_TYPE:
        return "statement", f"payloadType {r.envelope.payload_type!r}, not {PAYLOAD_TYPE}"
    why = verify_envelope(r.envelope, key, key_arn)
    if why:
        return "signature", why
    st = r.statement
    if st.get("_type") != R.STATEMENT_TYPE or r.kind == "unknown":
        return "statement", f"not an in-toto Statement v1 with a known predicateType ({st.get('predicateType')})"
    names = {s.get("name") for s in st.get("subject") or [] if isinstance(s, dict)}
    if names != {model} or not r.subjects:
        return "statement", f"its subject names {sorted(map(str, names))}, not the model {model}"
    link = r.link
    if link.get("model") != model or link.get("seq") != r.seq:
        return (
            "statement",
            f"its chain link says {link.get('model')} seq {link.get('seq')}, but its key says {model} seq {r.seq}",
        )
    return None
