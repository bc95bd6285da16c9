"""`mlplatform team add|list|remove`: atomic config edits, byte-for-byte round trips, the team's diff."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks.config.stackfile import StackFile


def _file(text: str, kind: str, path: Path) -> StackFile:
    return StackFile(path, kind, text, yaml.safe_load(text) or {})


def _spliced_add(text: str, kind: str, path: Path, entry: dict) -> str:
    """The one stack-file writer's list splice (StackFile.add_item)."""
    return _file(text, kind, path).add_item("teams", entry)


def _spliced_remove(text: str, kind: str, path: Path, name: str) -> str:
    return _file(text, kind, path).remove_item("teams", name)

ROOT = Path(__file__).resolve().parents[1]
ALICE = "arn:aws:iam::123456789012:role/alice"
# A stack file with comments, odd spacing, a hand-written team and a footer: all must survive.
HAND_WRITTEN = """\
# growth stack for the research org
profile: growth      # 6-20 people
region: us-east-1

teams:
    # the language team
    -   name: nlp
        gpu_quota: 2     # two A10Gs
        principals: [arn:aws:iam::123456789012:role/nlp-lead]

monitoring:
  retention_days: 20

# end of file
"""


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in the folder: content and mode (a refused command must change neither, nor add files)."""
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(folder.iterdir())}


@pytest.fixture
def stack_file(tmp_path):
    p = tmp_path / "stack.yaml"
    shutil.copy(ROOT / "examples" / "existing-vpc" / "stack.yaml", p)
    os.chmod(p, 0o644)
    return p


@pytest.fixture
def hand_written(tmp_path):
    p = tmp_path / "stack.yaml"
    p.write_text(HAND_WRITTEN)
    return p


# -- round trips ------------------------------------------------------------------------------------
def test_add_then_remove_returns_the_stack_file_byte_for_byte(stack_file):
    original = stack_file.read_bytes()
    res = run("team", "add", "vision", "--gpu-quota", "2", "--cpu-quota", "12", "--principal", ALICE,
              "--config", str(stack_file), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["written"] and out["team"] == "vision" and out["other_changes"] == []
    # The diff is the team alone: all creates, all inside the team's component, nothing stateful.
    resources = out["diff"]["resources"]
    assert resources and {r["op"] for r in resources} == {"create"}
    assert all("ml-dev-team-vision" in r["name"] or r["name"] == "ml-dev-team-vision" for r in resources)
    assert {r["type"] for r in resources} >= {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:ResourceQuota",
                                               "aws:eks/accessEntry:AccessEntry", "aws:iam/role:Role"}
    assert out["diff"]["data_loss"] == []
    # Only lines were added, and they are the team entry.
    after = stack_file.read_text()
    assert after.startswith(original.decode()) and yaml.safe_load(after)["teams"] == [
        {"name": "vision", "gpu_quota": 2, "cpu_quota": 12, "principals": [ALICE]}]
    assert stack_file.stat().st_mode & 0o777 == 0o644

    res = run("team", "remove", "vision", "--config", str(stack_file))
    assert res.exit_code == 0, res.output
    assert stack_file.read_bytes() == original
    assert stack_file.stat().st_mode & 0o777 == 0o644
    assert "kept: s3://<artifact bucket>/teams/vision/" in res.stdout
    assert "kept: ECR repositories mlplatform/dev/teams/vision/* (images stay)" in res.stdout
    assert "19 to destroy" in res.stdout and "Data loss: none" in res.stdout


def test_pulumi_stack_file_round_trip_in_the_project_folder(tmp_path):
    p = tmp_path / "Pulumi.prod.yaml"
    shutil.copy(ROOT / "examples" / "existing-vpc" / "Pulumi.dev.yaml", p)
    original = p.read_bytes()
    res = run("team", "add", "vision", "--gpu-quota", "1", "--dir", str(tmp_path), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["file"] == str(p)
    assert {r["name"] for r in out["diff"]["resources"]} >= {"ml-prod-team-vision"}  # the stack comes from the file name
    assert yaml.safe_load(p.read_text())["config"]["mlplatform:teams"] == [{"name": "vision", "gpu_quota": 1}]
    listed = json.loads(run("team", "list", "--dir", str(tmp_path), "--json").stdout)
    assert [(t["name"], t["gpu_quota"], t["cpu_quota"]) for t in listed] == [("vision", 1, 8)]
    assert run("team", "remove", "vision", "--dir", str(tmp_path)).exit_code == 0
    assert p.read_bytes() == original


def test_hand_written_file_keeps_comments_and_other_teams(hand_written):
    original = hand_written.read_text()
    res = run("team", "add", "vision", "--gpu-quota", "3", "--config", str(hand_written), "--json")
    assert res.exit_code == 0, res.output
    after = hand_written.read_text()
    added = [line for line in after.splitlines() if line not in original.splitlines()]
    assert added == ["    -   name: vision", "        gpu_quota: 3"]  # lined up with the hand-written entry
    assert [t["name"] for t in yaml.safe_load(after)["teams"]] == ["nlp", "vision"]
    # The diff shows vision only, though nlp exists too.
    names = {r["name"] for r in json.loads(res.stdout)["diff"]["resources"]}
    assert "ml-dev-team-vision" in names and not any("nlp" in n for n in names)
    assert run("team", "remove", "vision", "--config", str(hand_written)).exit_code == 0
    assert hand_written.read_text() == original


@pytest.mark.parametrize("text", [
    "profile: growth",  # no final newline
    "profile: growth\r\nregion: us-east-1\r\n",  # CRLF
    "profile: growth\nteams:\n- name: a\n- name: b\n  gpu_quota: 1\n",  # indentless list
    "config:\n    aws:region: us-east-1\n    mlplatform:teams:\n      - name: a\n\nencryptionsalt: x\n",
])
def test_splice_round_trips_whatever_the_layout(text):
    kind = "pulumi" if text.startswith("config:") else "stack"
    entry = {"name": "vision", "gpu_quota": 2, "principals": [ALICE]}
    added = _spliced_add(text, kind, Path("f.yaml"), entry)
    data = yaml.safe_load(added)
    teams = data["config"]["mlplatform:teams"] if kind == "pulumi" else data["teams"]
    assert teams[-1] == entry
    assert _spliced_remove(added, kind, Path("f.yaml"), "vision") == text


def test_removing_a_team_in_the_middle_keeps_the_others(tmp_path):
    text = "profile: growth\nteams:\n  - name: a\n    gpu_quota: 1\n  - name: b   # b\n    gpu_quota: 1\n  - name: c\n"
    assert _spliced_remove(text, "stack", tmp_path / "f.yaml", "b") == (
        "profile: growth\nteams:\n  - name: a\n    gpu_quota: 1\n  - name: c\n")


def test_dry_run_writes_nothing(stack_file):
    before = snapshot(stack_file.parent)
    res = run("team", "add", "vision", "--config", str(stack_file), "--dry-run")
    assert res.exit_code == 0 and "--dry-run" in res.stdout and "+ mlplatform:teams:TeamSpace" in res.stdout
    assert snapshot(stack_file.parent) == before


def test_list_without_teams(stack_file):
    res = run("team", "list", "--config", str(stack_file))
    assert res.exit_code == 0 and "No teams" in res.stdout


# -- refusals: clear one-line errors, nothing written ------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["add", "Vision"], "NAME: 'Vision' is not a DNS-1123 label of at most 30 characters; use lowercase letters"),
    (["add", "vision-"], "NAME: 'vision-' is not a DNS-1123 label"),
    (["add", "under_score"], "NAME: 'under_score' is not a DNS-1123 label"),
    (["add", "a" * 31], "is not a DNS-1123 label of at most 30 characters"),
    (["add", "mlflow"], "NAME: 'mlflow' is a namespace the platform or Kubernetes uses; pick another name"),
    (["add", "nlp"], "NAME: team 'nlp' already exists in"),
    (["add", "vision", "--gpu-quota", "-1"], "--gpu-quota: -1 is negative; use 0 or more"),
    (["add", "vision", "--cpu-quota", "-4"], "--cpu-quota: -4 is negative; use 0 or more"),
    (["add", "vision", "--principal", "alice"], "--principal: 'alice' is not an IAM role or user ARN"),
    (["add", "vision", "--principal", "arn:aws:iam::123456789012:role/nlp-lead"],
     "teams.1.principals: arn:aws:iam::123456789012:role/nlp-lead is already in team 'nlp'"),
    (["add", "vision", "--gpu-quota", "7"],
     "teams: the teams' GPU quotas add up to 9 (nlp 2, vision 7) but the GPU pools can run at most 8 GPUs"),
    (["remove", "vision"], "team: no team 'vision' in"),
])
def test_bad_requests_are_refused_and_nothing_is_written(hand_written, argv, message):
    before = snapshot(hand_written.parent)
    res = CliRunner().invoke(cli, ["team", *argv, "--config", str(hand_written)])
    assert res.exit_code == 1, res.output
    err = " ".join(res.stderr.split())
    assert err.startswith("error: ") and message in err, err
    assert len(res.stderr.strip().splitlines()) == 1
    assert snapshot(hand_written.parent) == before


def test_team_add_counts_a_pragmatic_pools_max_as_its_total(tmp_path):
    """pragmatic's pool (max 2 x 1-GPU nodes, spot-first) runs at most 2 GPUs whatever the capacity
    type: a quota of 3 is refused with that number, which is what the node groups can hold."""
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.program import plan

    cfg = tmp_path / "stack.yaml"
    cfg.write_text("profile: pragmatic\nregion: us-east-1\n")
    res = CliRunner().invoke(cli, ["team", "add", "vision", "--gpu-quota", "3", "--config", str(cfg)])
    assert res.exit_code == 1 and "but the GPU pools can run at most 2 GPUs" in res.stderr, res.output
    groups = plan(load_spec("pragmatic")).of_type("aws:eks/nodeGroup:NodeGroup")
    gpu_nodes = sum(g.inputs["scalingConfig"]["maxSize"] for g in groups if g.inputs["labels"].get("mlplatform.io/gpu"))
    assert gpu_nodes == 2  # 1 spot + 1 on-demand, 1 GPU each
    assert run("team", "add", "vision", "--gpu-quota", "2", "--config", str(cfg), "--dry-run").exit_code == 0


def test_oversubscription_setting_allows_quotas_above_the_pools(hand_written):
    hand_written.write_text(HAND_WRITTEN.replace("monitoring:", "gpu:\n  oversubscribe_gpus: true\n\nmonitoring:"))
    res = run("team", "add", "vision", "--gpu-quota", "7", "--config", str(hand_written), "--dry-run", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["written"] is False


def test_no_config_and_no_project_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(cli, ["team", "list", "--dir", str(tmp_path)])
    assert res.exit_code == 1
    assert f"--dir: {tmp_path} has no Pulumi.yaml" in res.stderr and "pass --config FILE" in " ".join(res.stderr.split())


def test_flow_style_teams_are_refused_not_rewritten(tmp_path):
    p = tmp_path / "stack.yaml"
    p.write_text("profile: growth\nteams: [{name: nlp}]\n")
    before = snapshot(tmp_path)
    res = CliRunner().invoke(cli, ["team", "add", "vision", "--config", str(p)])
    assert res.exit_code == 1 and "flow style" in res.stderr
    assert snapshot(tmp_path) == before
