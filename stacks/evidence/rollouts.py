"""What a finished Rollout means for the ledger: a `deployment` when it completed, a `rollback` when it
aborted or ran out of time. The publish workflow (and `serve rollback`) applies the rendered objects,
waits (`kubectl argo rollouts status`), reads the Rollout (`kubectl get rollout -o json`) and calls
`record_rollout`, so the MLflow alias moves only after a `deployment` record.

`outcome(rollout)` reads the status Argo Rollouts v1.9 writes (pkg/apis/rollouts/v1alpha1/types.go):

* completed: `status.phase` Healthy, the stable ReplicaSet is the current pod template
  (`stableRS == currentPodHash`), the spec observed (`observedGeneration == metadata.generation`), no abort;
* aborted: `status.abort` (condition Progressing, reason `RolloutAborted`): a failed canary analysis
  (`status.canary.currentStepAnalysisRunStatus` names it and its message) or a person's abort;
* timed out: condition Progressing with reason `ProgressDeadlineExceeded` (with `progressDeadlineAbort`,
  which `serve render` sets, the controller aborts back to stable as well);
* paused: an Inconclusive analysis (no data, argo-rollouts#1466) pauses for a person; nothing is recorded;
* progressing: not finished; nothing is recorded.

After an abort the stable model kept serving: the rollback record's subject is that stable digest (what
serves now), `from` the candidate that failed, so `evidence at` names the previous model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import records as R
from .errors import EvidenceError
from .ledger import Ledger, Record


@dataclass(frozen=True)
class Outcome:
    state: str  # completed | aborted | timed-out | paused | progressing
    message: str
    analysis: dict[str, str] | None  # {name, status, message} of the step (or background) analysis
    stable_hash: str | None
    current_hash: str | None

    @property
    def finished(self) -> bool:
        return self.state in ("completed", "aborted", "timed-out")


def outcome(rollout: dict[str, Any]) -> Outcome:
    """The state of one Rollout from its `status` (see the module's docstring)."""
    if not isinstance(rollout, dict) or rollout.get("kind") not in (None, "Rollout"):
        raise EvidenceError("--rollout", "is not a Rollout", "pass `kubectl get rollout NAME -o json`")
    st = rollout.get("status") or {}
    conditions = {c.get("type"): c for c in st.get("conditions") or [] if isinstance(c, dict)}
    progressing = conditions.get("Progressing") or {}
    canary = st.get("canary") or {}
    run = canary.get("currentStepAnalysisRunStatus") or canary.get("currentBackgroundAnalysisRunStatus")
    analysis = {k: str(run[k]) for k in ("name", "status", "message") if run.get(k)} if isinstance(run, dict) else None
    message = str(progressing.get("message") or st.get("message") or "")
    stable, current = st.get("stableRS"), st.get("currentPodHash")
    generation = (rollout.get("metadata") or {}).get("generation")
    observed = st.get("observedGeneration")
    timed_out = progressing.get("reason") == "ProgressDeadlineExceeded" or (
        st.get("abort") and "progress deadline" in message.lower()
    )
    seen = generation is None or observed is None or str(observed) == str(generation)
    if not seen:  # the controller has not acted on the spec just applied: the status is the last rollout's
        state = "progressing"
    elif timed_out:
        state = "timed-out"
    elif st.get("abort"):
        state = "aborted"
    elif st.get("phase") == "Healthy" and stable is not None and stable == current:
        state = "completed"
    elif st.get("phase") == "Paused" or st.get("pauseConditions"):
        state = "paused"
    else:
        state = "progressing"
    return Outcome(state, message, analysis, stable, current)


@dataclass(frozen=True)
class Version:
    version: str
    digest: str


def rollout_predicate(
    o: Outcome, environment: str, to: Version, previous: Version | None, reason: str | None = None
) -> tuple[str, str, dict[str, Any]]:
    """(kind, subject digest, predicate) of what `o` means; EvidenceError when it is not finished."""
    if not o.finished:
        raise EvidenceError(
            "--rollout",
            f"the rollout is {o.state}" + (f" ({o.message})" if o.message else ""),
            "wait for it to complete or abort (kubectl argo rollouts status), or promote/abort a paused one",
        )
    if o.state == "completed":
        fields: dict[str, Any] = {
            "environment": environment,
            "alias": environment,
            "version": to.version,
            "from": previous.digest if previous else "none",
        }
        base = {"fromVersion": previous.version if previous else None, "rollout": {"stableRS": o.stable_hash}}
        if reason == "manual":  # `serve rollback`: back to an earlier approved version, completed
            rb: dict[str, Any] = {
                "environment": environment,
                "reason": "manual",
                "version": to.version,
                "from": previous.digest if previous else "none",
                "from_version": previous.version if previous else None,
                "message": o.message or None,
            }
            return "rollback", to.digest, R.build_predicate("rollback", to.digest, _present(rb))
        return "deployment", to.digest, R.build_predicate("deployment", to.digest, _present(fields), base)
    failed_analysis = o.analysis if o.analysis and o.analysis.get("status") in ("Failed", "Error") else None
    why = "timeout" if o.state == "timed-out" else ("analysis-failed" if failed_analysis else "aborted")
    # What serves now: the stable model; with none before (a first rollout that never became ready),
    # nothing does, and the record's subject is the candidate that failed.
    serving = previous or to
    fields = {
        "environment": environment,
        "reason": why,
        "version": serving.version,
        "from": to.digest,
        "from_version": to.version,
        "message": o.message or None,
    }
    if o.analysis:
        fields.update(
            {
                "analysis": o.analysis.get("name"),
                "analysis_status": o.analysis.get("status"),
                "analysis_message": o.analysis.get("message"),
            }
        )
    return "rollback", serving.digest, R.build_predicate("rollback", serving.digest, _present(fields))


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def record_rollout(
    ledger: Ledger,
    model: str,
    rollout: dict[str, Any],
    environment: str,
    to: Version,
    previous: Version | None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Outcome, Record]:
    """Record what the finished `rollout` of `model` in `environment` means; returns its outcome and record."""
    o = outcome(rollout)
    kind, subject, predicate = rollout_predicate(o, environment, to, previous, reason)
    for k, v in (extra or {}).items():
        predicate.setdefault(k, v)
    return o, ledger.append(kind, model, [subject], predicate)


def settled(rollout: dict[str, Any]) -> bool:
    """Finished, or paused for a person: waiting longer changes nothing by itself."""
    o = outcome(rollout)
    return o.finished or o.state == "paused"


def summary(rollout: dict[str, Any]) -> dict[str, Any]:
    """What `serve status` shows of a Rollout: wanted version and digest, state, canary step, analysis."""
    meta, spec, st = rollout.get("metadata") or {}, rollout.get("spec") or {}, rollout.get("status") or {}
    steps = ((spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
    o = outcome(rollout)
    weight = ((st.get("canary") or {}).get("weights") or {}).get("canary", {}).get("weight")
    return {
        "wanted_version": (meta.get("labels") or {}).get("mlplatform.io/version"),
        "wanted_digest": (meta.get("annotations") or {}).get("mlplatform.io/model-digest"),
        "state": o.state,
        "step": f"{st.get('currentStepIndex', len(steps))}/{len(steps)}" if steps else None,
        "canary_weight": weight,
        "analysis": o.analysis,
        "message": o.message or None,
        "stable_is_wanted": o.stable_hash is not None and o.stable_hash == o.current_hash,
    }


def approved_versions(ledger: Ledger, model: str, environment: str) -> dict[str, str]:
    """version -> digest of every version that was live in `environment` (a deployment or rollback
    record names it) and has an approval record: what `serve rollback --to` may go back to."""
    recs = [r for r in ledger.read(model) if not r.problem]
    approved = {s for r in recs if r.kind == "approval" for s in r.subjects}
    out: dict[str, str] = {}
    for r in recs:
        if r.kind in ("deployment", "rollback") and r.environment == environment and r.subject in approved:
            version = r.predicate.get("version")
            if version and R.digest_of(r.predicate.get("from")) != r.subject:
                out[str(version)] = r.subject
    return out


def rollback_target(versions: dict[str, str], live: dict[str, Any], to: str | None) -> Version:
    """The version `serve rollback` goes to: `to` (approved and once live here), else the one before the live one."""
    current = str(live.get("version"))
    if to is not None:
        if to == current:
            raise EvidenceError("--to", f"v{to} is what serves now", "name an earlier version")
        if to not in versions:
            known = ", ".join(f"v{v}" for v in sorted(versions, key=lambda v: int(v) if v.isdigit() else 0)) or "none"
            raise EvidenceError(
                "--to",
                f"v{to} was never approved and live here (approved and live before: {known})",
                "pick one of them",
            )
        return Version(to, versions[to])
    earlier = [
        v for v in versions if v != current and (not v.isdigit() or not current.isdigit() or int(v) < int(current))
    ]
    if not earlier:
        raise EvidenceError("--to", f"no approved version was live before v{current}", "there is nothing to go back to")
    best = max(earlier, key=lambda v: int(v) if v.isdigit() else 0)
    return Version(best, versions[best])
