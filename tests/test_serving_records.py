"""What a finished Rollout writes to the ledger (stacks/evidence/rollouts.py), against a real moto server.

The Rollout objects have the shape Argo Rollouts v1.9.0 writes: status fields from
pkg/apis/rollouts/v1alpha1/types.go, and the aborted / timed-out shapes of the project's own test data
(pkg/kubectl-argo-rollouts/info/testdata/rollout-aborted/rollout.yaml, .../canary/canary-rollout.yaml)."""

from __future__ import annotations

import json

import pytest

from mlplatform.stacks.evidence import records as R
from mlplatform.stacks.evidence.audit import live_at
from mlplatform.stacks.evidence.errors import EvidenceError
from mlplatform.stacks.evidence.ledger import Ledger
from mlplatform.stacks.evidence.rollouts import Version, outcome, record_rollout
from test_evidence import COMMIT1, COMMIT2, D1, D2, ledger_env, record, release, run, when  # noqa: F401

V1, V2 = Version("1", D1), Version("2", D2)


def rollout(status: dict, generation: int = 7) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "churn", "namespace": "serving-production", "generation": generation},
            "status": status}


COMPLETED = rollout({
    "phase": "Healthy", "observedGeneration": "7", "currentPodHash": "5d8c9b7f4", "stableRS": "5d8c9b7f4",
    "currentStepIndex": 5, "replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2,
    "canary": {"stablePingPong": "pong"},
    "conditions": [
        {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability"},
        {"type": "Completed", "status": "True", "reason": "RolloutCompleted", "message": "Rollout completed update to revision 3 (5d8c9b7f4): Initial deploy"},
        {"type": "Healthy", "status": "True", "reason": "RolloutHealthy", "message": "Rollout is healthy"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "Rollout \"churn\" has successfully progressed."},
    ]})
ABORTED = rollout({
    "phase": "Degraded", "abort": True, "abortedAt": "2026-12-07T09:10:05Z", "observedGeneration": "7",
    "currentPodHash": "6f7d8c9a1", "stableRS": "5d8c9b7f4", "currentStepIndex": 1, "replicas": 3,
    "canary": {"stablePingPong": "ping", "currentStepAnalysisRunStatus": {
        "name": "churn-6f7d8c9a1-3-1", "status": "Failed",
        "message": "metric \"error-share\" assessed Failed due to failed (1) > failureLimit (0)"}},
    "conditions": [
        {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability"},
        {"type": "Progressing", "status": "False", "reason": "RolloutAborted",
         "message": "Rollout aborted update to revision 3: Metric \"error-share\" assessed Failed due to failed (1) > failureLimit (0)"},
    ]})
TIMED_OUT = rollout({
    "phase": "Degraded", "abort": True, "observedGeneration": "7", "currentPodHash": "6f7d8c9a1",
    "stableRS": "5d8c9b7f4", "currentStepIndex": 0, "replicas": 3, "updatedReplicas": 1, "canary": {},
    "conditions": [
        {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability"},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "ReplicaSet \"churn-6f7d8c9a1\" has timed out progressing."},
    ]})
PAUSED = rollout({
    "phase": "Paused", "observedGeneration": "7", "currentPodHash": "6f7d8c9a1", "stableRS": "5d8c9b7f4",
    "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-12-07T09:12:00Z"}],
    "canary": {"currentStepAnalysisRunStatus": {"name": "churn-6f7d8c9a1-3-1", "status": "Inconclusive"}},
    "conditions": [{"type": "Progressing", "status": "Unknown", "reason": "RolloutPaused", "message": "Rollout is paused"}]})
PROGRESSING = rollout({"phase": "Progressing", "observedGeneration": "6", "currentPodHash": "6f7d8c9a1",
                       "stableRS": "5d8c9b7f4", "conditions": []})


def test_outcomes_of_each_shape():
    assert outcome(COMPLETED).state == "completed"
    aborted = outcome(ABORTED)
    assert aborted.state == "aborted" and aborted.analysis["status"] == "Failed"
    assert aborted.analysis["name"] == "churn-6f7d8c9a1-3-1"
    assert outcome(TIMED_OUT).state == "timed-out"
    assert outcome(PAUSED).state == "paused" and outcome(PROGRESSING).state == "progressing"
    stale = json.loads(json.dumps(COMPLETED))
    stale["status"]["observedGeneration"] = "6"  # the controller has not seen the new spec yet
    assert outcome(stale).state == "progressing"


@pytest.fixture
def candidate(ledger_env):
    """churn v1 (D1) live in production since 20 days; v2 (D2) trained, evaluated and approved."""
    release("churn", D1, COMMIT1, 20)
    record("provenance", "churn", D2, f"commit={COMMIT2}", "repository=https://github.com/acme/churn",
           "workflow=.github/workflows/train-evaluate.yml")
    record("evaluation", "churn", D2, "metric.val_loss=0.28", "passed=true")
    record("approval", "churn", D2, "by=bob", "via=pull-request", "environment=production")
    return Ledger(f"s3://{ledger_env and 'team-evidence'}/acme", key_id=ledger_env["key_id"])


def test_an_aborted_canary_records_a_rollback_and_the_previous_model_stays_live(candidate):
    record("observation", "churn", D1, "running=" + D1, "running=" + D2, "cluster=ml-dev")  # mid-canary
    o, rec = record_rollout(candidate, "churn", ABORTED, "production", V2, V1)
    assert o.state == "aborted" and rec.kind == "rollback" and rec.subject == D1
    p = rec.predicate
    assert p["reason"] == "analysis-failed" and R.digest_of(p["from"]) == D2 and p["fromVersion"] == "2"
    assert p["analysis"] == {"name": "churn-6f7d8c9a1-3-1", "status": "Failed",
                             "message": "metric \"error-share\" assessed Failed due to failed (1) > failureLimit (0)"}
    live = live_at(candidate, "churn", R.now_utc())["live"]
    assert live["digest"] == D1 and live["version"] == "1" and live["by"] == "deployment"
    assert live["last_rollback"]["failed"] == D2 and live["last_rollback"]["reason"] == "analysis-failed"
    text = run("at", R.iso(R.now_utc()), "--model", "churn")
    assert f"digest          {D1}" in text.stdout
    result = run("verify", "--model", "churn")
    assert result.exit_code == 0, result.output
    log = json.loads(run("log", "--model", "churn", "--json").stdout)
    entries = log["records"] if isinstance(log, dict) and "records" in log else log
    last = entries[-1]
    assert last["kind"] == "rollback"
    assert last["summary"].endswith("(analysis-failed), analysis churn-6f7d8c9a1-3-1 Failed")


def test_a_completed_rollout_records_the_deployment(candidate):
    _, rec = record_rollout(candidate, "churn", COMPLETED, "production", V2, V1)
    assert rec.kind == "deployment" and rec.subject == D2 and R.digest_of(rec.predicate["from"]) == D1
    assert rec.predicate["version"] == "2" and rec.predicate["environment"] == "production"
    assert live_at(candidate, "churn", R.now_utc())["live"]["digest"] == D2
    assert run("verify", "--model", "churn").exit_code == 0


def test_a_timed_out_rollout_is_a_rollback_for_timeout(candidate):
    _, rec = record_rollout(candidate, "churn", TIMED_OUT, "production", V2, V1)
    assert rec.kind == "rollback" and rec.predicate["reason"] == "timeout" and rec.subject == D1
    assert "has timed out progressing" in rec.predicate["message"]
    assert live_at(candidate, "churn", R.now_utc())["live"]["digest"] == D1


@pytest.mark.parametrize("shape", [PAUSED, PROGRESSING])
def test_an_unfinished_rollout_records_nothing(candidate, shape, ledger_env):
    before = len(candidate.keys("churn"))
    with pytest.raises(EvidenceError, match="wait for it to complete or abort"):
        record_rollout(candidate, "churn", shape, "production", V2, V1)
    assert len(candidate.keys("churn")) == before


def test_a_manual_rollback_puts_the_earlier_version_live(candidate):
    record_rollout(candidate, "churn", COMPLETED, "production", V2, V1)
    _, rec = record_rollout(candidate, "churn", COMPLETED, "production", V1, V2, reason="manual")
    assert rec.kind == "rollback" and rec.subject == D1 and rec.predicate["reason"] == "manual"
    live = live_at(candidate, "churn", R.now_utc())["live"]
    assert live["digest"] == D1 and live["by"] == "rollback" and live["replaced"] == D2
    assert live["approved_by"] == "alice"  # v1's own approval
    assert run("verify", "--model", "churn").exit_code == 0


def test_a_rollback_to_a_never_approved_digest_breaks_verify(candidate):
    rogue = "sha256:" + "9" * 64
    record("rollback", "churn", rogue, "reason=manual", "from=" + D1)
    result = run("verify", "--model", "churn")
    assert result.exit_code == 3 and "rollback without approval" in result.stdout
