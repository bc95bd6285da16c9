"""Recorded GitHub API responses -> evidence predicates (stacks/project/promotion.py and `mlplatform ci …`)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mlplatform.cli.main import cli
from mlplatform.stacks.project.promotion import (
    NotApproved,
    approval_from_environment,
    approval_from_pull_request,
    merged_pull_for_commit,
    read_release,
    release_body,
    release_path,
    release_yaml,
    released_models,
    review_from_issue,
    review_issue,
    serving_queries,
    training_cost,
)
from mlplatform.stacks.config.spec import SpecError

GH = Path(__file__).parent / "fixtures" / "github"
MERGE = "c0ffee4b2a1908f7e6d5c4b3a2918f7e6d5c4b3a"
HEAD = "9be0d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7"
DIGEST = "sha256:" + "7c" * 32


def fixture(name: str):
    return json.loads((GH / name).read_text())


# -- approval by pull request ------------------------------------------------------------------------
def test_the_approval_is_the_latest_human_approval_of_the_merged_commit():
    p = approval_from_pull_request(fixture("pull-42.json"), fixture("pull-42-reviews.json"))
    assert (p["method"], p["environment"]) == ("pull-request", "production")
    assert p["approver"] == "alice"  # bob approved an earlier commit; renovate[bot] is a bot; carol only commented
    assert p["approvedAt"] == "2026-11-30T15:01:06Z"  # the merge: when the approval took effect
    assert p["reference"] == "https://github.com/acme/churn-platform/pull/42"
    assert p["approvers"] == [{"login": "alice", "reviewedAt": "2026-11-30T14:03:19Z", "association": "MEMBER",
                               "commit": HEAD, "comment": "AUC +0.012 over v6, latency unchanged in staging. Ship it.",
                               "review": "https://github.com/acme/churn-platform/pull/42#pullrequestreview-2103"}]
    assert p["staleApprovals"] == ["bob"]
    assert p["comment"] == "alice: AUC +0.012 over v6, latency unchanged in staging. Ship it."
    assert p["pullRequest"] == {"number": 42, "url": "https://github.com/acme/churn-platform/pull/42",
                                "title": "Release churn v7", "author": "github-actions[bot]", "headSha": HEAD,
                                "mergeCommitSha": MERGE, "mergedAt": "2026-11-30T15:01:06Z", "mergedBy": "alice"}


def test_gh_paginate_slurp_pages_give_the_same_approval():
    reviews = fixture("pull-42-reviews.json")
    pages = [reviews[:2], reviews[2:]]
    assert approval_from_pull_request(fixture("pull-42.json"), pages) == \
        approval_from_pull_request(fixture("pull-42.json"), reviews)


def test_merged_with_only_a_stale_approval_is_refused_naming_it():
    reviews = [r for r in fixture("pull-42-reviews.json") if r["id"] != 2103]
    with pytest.raises(NotApproved, match=r"^release: pull request #42 was merged without an approving review of its "
                                          r"last commit 9be0d4c3b2a1 \(approvals of an earlier commit: bob\); require"):
        approval_from_pull_request(fixture("pull-42.json"), reviews)


def test_bots_and_the_author_never_approve():
    reviews = [r for r in fixture("pull-42-reviews.json") if r["user"]["login"] in ("renovate[bot]",)]
    with pytest.raises(NotApproved, match="without an approving review"):
        approval_from_pull_request(fixture("pull-42.json"), reviews)
    pull = fixture("pull-42.json")
    pull["user"] = copy.deepcopy(fixture("pull-42-reviews.json")[2]["user"])  # alice opened it herself
    with pytest.raises(NotApproved, match="without an approving review"):
        approval_from_pull_request(pull, fixture("pull-42-reviews.json"))


def test_a_later_change_request_blocks_and_a_later_approval_clears_it():
    reviews = fixture("pull-42-reviews.json")
    dave = copy.deepcopy(reviews[2])
    dave.update(id=2106, state="CHANGES_REQUESTED", body="p95 regressed", submitted_at="2026-11-30T14:30:00Z")
    dave["user"] = {**dave["user"], "login": "dave", "id": 1044}
    with pytest.raises(NotApproved, match=r"merged with changes requested by dave"):
        approval_from_pull_request(fixture("pull-42.json"), reviews + [dave])
    cleared = copy.deepcopy(dave)
    cleared.update(id=2107, state="APPROVED", body="fixed", submitted_at="2026-11-30T14:50:00Z")
    p = approval_from_pull_request(fixture("pull-42.json"), reviews + [dave, cleared])
    assert p["approver"] == "alice, dave" and [a["login"] for a in p["approvers"]] == ["alice", "dave"]
    # a dismissed approval no longer counts
    dismissed = copy.deepcopy(reviews[2])
    dismissed.update(id=2108, state="DISMISSED", submitted_at="2026-11-30T14:55:00Z")
    with pytest.raises(NotApproved):
        approval_from_pull_request(fixture("pull-42.json"), reviews + [dismissed])


def test_an_unmerged_pull_request_is_not_an_approval():
    pull = fixture("pull-42.json")
    pull.update(merged=False, merged_at=None, state="open")
    with pytest.raises(NotApproved, match=r"^release: pull request #42 is not merged"):
        approval_from_pull_request(pull, fixture("pull-42-reviews.json"))


def test_the_push_must_come_from_a_merged_pull_request():
    assert merged_pull_for_commit(fixture("commit-pulls.json"), MERGE, "main")["number"] == 42
    with pytest.raises(NotApproved, match=r"^release: commit 0123456789ab on main was not merged from a pull request"):
        merged_pull_for_commit(fixture("commit-pulls.json"), "0123456789ab" + "0" * 28, "main")
    with pytest.raises(NotApproved):  # merged into another branch
        merged_pull_for_commit(fixture("commit-pulls.json"), MERGE, "release")
    with pytest.raises(SpecError, match=r"^--pulls: is one object"):
        merged_pull_for_commit(fixture("pull-42.json"), MERGE, "main")


def test_released_models_are_the_changed_release_files():
    assert released_models(fixture("pull-42-files.json")) == ["churn"]
    files = fixture("pull-42-files.json") + [
        {"filename": "models/fraud/release.yaml", "status": "added"},
        {"filename": "models/old/release.yaml", "status": "removed"},
        {"filename": "models/churn/notes.md", "status": "added"},
        {"filename": "models/../etc/release.yaml", "status": "added"}]
    assert released_models(files) == ["churn", "fraud"]


# -- approval by environment -------------------------------------------------------------------------
def test_environment_approval_from_the_runs_deployment_reviews():
    run = {"id": "123", "url": "https://github.com/acme/churn-platform/actions/runs/123"}
    p = approval_from_environment(fixture("run-approvals.json"), "model-promotion", run, "2026-11-30T16:00:00Z")
    assert (p["method"], p["approver"], p["approvedAt"], p["githubEnvironment"], p["environment"]) == \
        ("environment", "bob", "2026-11-30T16:00:00Z", "model-promotion", "production")
    assert p["comment"] == "bob: Comparison checked: v7 beats v6 on val_loss." and p["workflowRun"] == run
    assert p["reference"] == run["url"]
    with pytest.raises(NotApproved, match="no reviewer approved environment model-promotion"):
        approval_from_environment([], "model-promotion", run, "2026-11-30T16:00:00Z")  # no required reviewers set
    with pytest.raises(NotApproved, match="no reviewer approved environment platform"):
        approval_from_environment(fixture("run-approvals.json"), "platform", run, "2026-11-30T16:00:00Z")
    rejected = fixture("run-approvals.json")
    rejected[0]["state"] = "rejected"
    with pytest.raises(NotApproved, match=r"bob rejected the deployment to model-promotion"):
        approval_from_environment(rejected, "model-promotion", run, "2026-11-30T16:00:00Z")


# -- the release file ------------------------------------------------------------------------------
def _release(**changes):
    args = dict(model="churn", version=7, digest=DIGEST, reference=f"123.dkr.ecr.us-east-1.amazonaws.com/m@{DIGEST}",
                run_id="a1b2c3", run_url="https://github.com/acme/churn-platform/actions/runs/9",
                mlflow_url="http://mlflow.mlflow.svc.cluster.local:5000", metric="val_loss", greater_is_better=False,
                candidate_metrics={"val_loss": 0.21, "auc": 0.91}, evidence=["ledger/churn/3-sha256.json"],
                production={"version": 6, "digest": "sha256:" + "6b" * 32, "run_id": "f0e1", "metrics": {"val_loss": 0.25}},
                commit=HEAD, created="2026-11-30T08:55:00+00:00")
    args.update(changes)
    return release_yaml(**args)


def test_release_file_round_trips_and_shows_both_models():
    text = _release()
    doc = read_release(text, release_path("churn"))
    assert release_path("churn") == "models/churn/release.yaml"
    assert doc["candidate"]["version"] == "7" and doc["candidate"]["digest"] == DIGEST
    assert doc["production"] == {"version": "6", "digest": "sha256:" + "6b" * 32, "mlflow_run": "f0e1"}
    assert doc["metrics"]["val_loss"] == {"candidate": 0.21, "production": 0.25, "change": -0.04}
    assert doc["metrics"]["auc"] == {"candidate": 0.91, "production": None, "change": None}
    assert doc["links"]["mlflow_run"] == "http://mlflow.mlflow.svc.cluster.local:5000/#/experiments/-/runs/a1b2c3"
    body = release_body(doc)
    assert "| val_loss (decides) | 0.21 | 0.25 | -0.04 |" in body and "production now: v6" in body
    first = read_release(_release(production=None))
    assert first["production"] is None and "none (first release)" in release_body(first)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["candidate"].update(digest="sha256:abc"), "candidate.digest: 'sha256:abc' is not a sha256 digest"),
    (lambda d: d["candidate"].update(version="7; rm"), "candidate.version"),
    (lambda d: d.update(model="a b"), "model: 'a b' is not a model name"),
    (lambda d: d.update(kind="other"), "is not a release file"),
])
def test_a_tampered_release_file_is_refused(edit, message):
    doc = yaml.safe_load(_release())
    edit(doc)
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        read_release(yaml.safe_dump(doc), "models/churn/release.yaml")


# -- periodic review --------------------------------------------------------------------------------
def test_closing_the_review_issue_with_a_label_is_the_review():
    model, digest, p = review_from_issue(fixture("issue-57.json"), fixture("issue-57-timeline.json"))
    assert (model, digest) == ("churn", DIGEST)
    assert p == {"reviewer": "alice", "outcome": "keep", "reviewedAt": "2026-12-09T16:22:40Z",
                 "comment": "p95 latency and the class mix are stable against last month; AUC at approval still holds. Keep.",
                 "reference": "https://github.com/acme/churn-platform/issues/57", "environment": "production",
                 "labelledBy": "alice", "version": "7", "due": "2026-12-15", "overdue": False,
                 "issue": {"number": 57, "title": "Review churn v7", "openedAt": "2026-12-01T09:04:31Z",
                           "stateReason": "completed"}}


def test_a_late_review_is_marked_overdue():
    timeline = fixture("issue-57-timeline.json")
    timeline[-1]["created_at"] = "2026-12-20T10:00:00Z"
    assert review_from_issue(fixture("issue-57.json"), timeline)[2]["overdue"] is True


@pytest.mark.parametrize("edit, message", [
    (lambda i: i.update(user={"login": "mallory", "type": "User"}), "opened by mallory, not by the review workflow"),
    (lambda i: i.update(labels=[{"name": "model-review"}]), "closed with none of the labels keep, retrain, retire"),
    (lambda i: i.update(labels=[{"name": "keep"}, {"name": "retire"}]), "closed with the labels keep, retire"),
    (lambda i: i.update(body="no marker"), "has no valid review marker"),
    (lambda i: i.update(body=i["body"].replace("sha256:", "sha1:")), "has no valid review marker"),
    (lambda i: i.update(state="open"), "is not closed"),
])
def test_a_review_issue_that_cannot_be_recorded_is_refused(edit, message):
    issue = fixture("issue-57.json")
    edit(issue)
    with pytest.raises(NotApproved, match=message):
        review_from_issue(issue, fixture("issue-57-timeline.json"))


def test_the_review_packet_has_what_a_reviewer_needs():
    ok = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "12.5"]}]}}
    shares = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"class": "churn"}, "value": [1, "0.1"]}, {"metric": {"class": "stay"}, "value": [1, "0.9"]}]}}
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    runs = [{"start_time": 0, "end_time": 2 * 3_600_000}, {"start_time": 10, "end_time": 10 + 1_800_000},
            {"start_time": 5, "end_time": None}]  # a run still going is not counted
    title, body = review_issue(
        model="churn", version="7", digest=DIGEST,
        live={"digest": DIGEST, "live_since": "2026-11-30T15:02:00Z", "approved_by": "alice, dave",
              "approved_at": "2026-11-30T15:01:06Z", "trained_from": {"commit": HEAD}},
        approval_metrics={"val_loss": 0.21}, serving={"request_rate": ok, "class_share": shares},
        serving_before={"request_rate": empty}, training=training_cost(runs, 1, 0.8048),
        training_period=training_cost(runs[1:], 1, 0.8048), instance_type="g6.xlarge", hourly_price=0.8048,
        period_days=30, today=date(2026, 12, 1), due_days=14)
    assert title == "Review churn v7"
    for line in ("- live since: 2026-11-30T15:02:00Z", "- approved by: @alice, @dave at 2026-11-30T15:01:06Z",
                 f"- trained from commit: `{HEAD}`", "| val_loss | 0.21 |",
                 "| requests/s | 12.5 | no data |", "| latency p95 (s) | no data | no data |",
                 "| class churn share | 10.00% | no data |", "| all time | 2 | 2.5 | $2.01 |",
                 "| last 30 days | 1 | 0.5 | $0.40 |", "Priced as g6.xlarge on-demand at $0.8048/h",
                 "- [ ] **keep**", "- [ ] **retrain**", "- [ ] **retire**", "Due: **2026-12-15**."):
        assert line in body, line
    # the issue it makes is the issue review_from_issue reads back
    issue = {**fixture("issue-57.json"), "body": body}
    assert review_from_issue(issue, fixture("issue-57-timeline.json"))[:2] == ("churn", DIGEST)
    _, unknown = review_issue(model="churn", version="7", digest=DIGEST, live=None, approval_metrics={}, serving={},
                              serving_before={}, training=training_cost([], 0, None),
                              training_period=training_cost([], 0, None), instance_type=None, hourly_price=None,
                              period_days=30, today=date(2026, 12, 1), due_days=14)
    assert "live since: unknown (no deployment in the ledger)" in unknown and "not priced" in unknown


def test_serving_queries_are_valid_promql_over_the_conventional_metrics():
    import promql_parser
    from mlplatform.components.dashboards import MODEL_METRICS

    queries = serving_queries("churn", "7", 30) | {f"{k} before": v for k, v in serving_queries("churn", "7", 30, 30).items()}
    for name, q in queries.items():
        promql_parser.parse(q)  # raises on invalid PromQL
        assert 'model="churn", version="7"' in q and "[30d]" in q, name
        assert any(m in q for m in MODEL_METRICS), name
    assert "offset 30d" in queries["latency_p95 before"] and "offset" not in queries["latency_p95"]


# -- the CLI the workflows call ----------------------------------------------------------------------
def test_cli_prints_the_approval_predicate_and_refuses_with_exit_3(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["ci", "evidence-predicate", "approval", "--pull", str(GH / "pull-42.json"),
                             "--reviews", str(GH / "pull-42-reviews.json")])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == approval_from_pull_request(fixture("pull-42.json"), fixture("pull-42-reviews.json"))
    stale = tmp_path / "reviews.json"
    stale.write_text(json.dumps([r for r in fixture("pull-42-reviews.json") if r["id"] != 2103]))
    refused = runner.invoke(cli, ["ci", "evidence-predicate", "approval", "--pull", str(GH / "pull-42.json"),
                                  "--reviews", str(stale)])
    assert refused.exit_code == 3 and "without an approving review" in refused.output
    env = runner.invoke(cli, ["ci", "evidence-predicate", "approval", "--approvals", str(GH / "run-approvals.json"),
                              "--run-id", "5", "--when", "2026-11-30T16:00:00Z"])
    assert env.exit_code == 0 and json.loads(env.output)["approver"] == "bob"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    broken = runner.invoke(cli, ["ci", "evidence-predicate", "approval", "--pull", str(bad), "--reviews", str(stale)])
    assert broken.exit_code == 1 and "--pull:" in broken.output and "is not JSON" in broken.output


def test_cli_merged_pull_released_models_and_review(tmp_path):
    runner = CliRunner()
    number = runner.invoke(cli, ["ci", "merged-pull", "--pulls", str(GH / "commit-pulls.json"), "--sha", MERGE,
                                 "--base", "main"])
    assert (number.exit_code, number.output) == (0, "42\n")
    direct = runner.invoke(cli, ["ci", "merged-pull", "--pulls", str(GH / "commit-pulls.json"), "--sha", HEAD,
                                 "--base", "main"])
    assert direct.exit_code == 3 and "was not merged from a pull request" in direct.output
    models = runner.invoke(cli, ["ci", "released-models", "--files", str(GH / "pull-42-files.json")])
    assert (models.exit_code, models.output) == (0, "churn\n")
    out = tmp_path / "github_output"
    review = runner.invoke(cli, ["ci", "evidence-predicate", "review", "--issue", str(GH / "issue-57.json"),
                                 "--events", str(GH / "issue-57-timeline.json"), "--subject-out", str(out)])
    assert review.exit_code == 0, review.output
    assert json.loads(review.output)["outcome"] == "keep"
    assert out.read_text() == f"model=churn\ndigest={DIGEST}\n"


def test_the_predicates_fit_the_evidence_ledgers_record_shapes():
    """The ledger (mlplatform evidence, branch `evidence`) builds its records from these predicates."""
    records = pytest.importorskip("mlplatform.stacks.evidence.records",
                                  reason="the evidence ledger is not in this tree yet (branch evidence)")
    approval = records.build_predicate("approval", DIGEST, {}, approval_from_pull_request(
        fixture("pull-42.json"), fixture("pull-42-reviews.json")))
    assert (approval["approver"], approval["method"], approval["environment"]) == ("alice", "pull-request", "production")
    env = records.build_predicate("approval", DIGEST, {}, approval_from_environment(
        fixture("run-approvals.json"), "model-promotion", {"id": "1", "url": "u"}, "2026-11-30T16:00:00Z"))
    assert env["method"] == "environment" and env["environment"] == "production"
    _, digest, review = review_from_issue(fixture("issue-57.json"), fixture("issue-57-timeline.json"))
    built = records.build_predicate("review", digest, {}, review)
    assert (built["reviewer"], built["outcome"]) == ("alice", "keep")
