"""The CLI as a user runs it: output, exit codes, one-line errors, files written or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlplatform.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_plan_json_contract():
    res = run("plan", "--profile", "pragmatic", "--json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["profile"] == "pragmatic" and data["summary"]["add"] == len(data["resources"]) > 40
    types = {r["type"] for r in data["resources"]}
    assert {"aws:ec2/vpc:Vpc", "aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:s3/bucket:Bucket",
            "aws:ecr/repository:Repository", "aws:kms/key:Key"} <= types
    nat = [r for r in data["resources"] if r["type"] == "aws:ec2/natGateway:NatGateway"]
    assert len(nat) == 1


def test_plan_for_people_shows_tree_and_summary():
    res = run("plan", "--team-size", "8")
    assert res.exit_code == 0
    out = res.stdout
    assert "profile growth" in out
    assert "mlplatform:compute:Cluster" in out and "├─ aws:eks/cluster:Cluster" in out
    assert "protected" in out
    n = len(json.loads(run("plan", "--team-size", "8", "--json").stdout)["resources"])
    assert out.rstrip().endswith(f"Plan: {n} to add.")


@pytest.mark.parametrize("args,message", [
    (["--profile", "enterprise"], "profile: unknown profile 'enterprise'; use one of pragmatic, growth, full"),
    (["--team-size", "-2"], "team_size: must be at least 1, got -2"),
    (["--region", "moon-1"], "region: 'moon-1' is not an AWS region mlplatform knows"),
    (["--set", "network.az_count=9"], "network.az_count: input should be less than or equal to 6"),
    (["--set", "cluster.system_nodes.min=9"], "cluster.system_nodes: min (9) is greater than max (3)"),
])
def test_bad_input_exits_1_with_one_red_line(tmp_path, args, message):
    out = tmp_path / "plan.json"
    res = run("plan", *args, "--out", str(out))
    assert res.exit_code == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_malformed_config_file(tmp_path):
    cfg = tmp_path / "stack.yaml"
    cfg.write_text("network:\n  az_count: 2\n bad indent: [\n")
    res = run("plan", "--config", str(cfg))
    assert res.exit_code == 1 and "is not valid YAML at line" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_out_is_atomic_and_never_overwritten_without_force(tmp_path):
    out = tmp_path / "plan.json"
    assert run("plan", "--json", "--out", str(out)).exit_code == 0
    first = out.read_text()
    assert json.loads(first)["profile"] == "pragmatic"
    out.write_text("keep me")
    res = run("plan", "--out", str(out))
    assert res.exit_code == 1 and "already exists; pass --force" in res.stderr
    assert out.read_text() == "keep me"
    assert run("plan", "--out", str(out), "--force", "--json").exit_code == 0
    assert out.read_text() == first
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left behind


def test_usage_error_is_exit_2():
    res = CliRunner().invoke(cli, ["plan", "--no-such-flag"])
    assert res.exit_code == 2


def test_profiles_table_and_json():
    res = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["profiles"], catch_exceptions=False)
    assert res.exit_code == 0
    for word in ("pragmatic", "growth", "full", "1-5", "6-20", "21+", "t3a.medium", "m6i.xlarge", "1 NAT gateway",
                 "idle cost, us-east-1"):
        assert word in res.stdout
    rows = json.loads(run("profiles", "--json").stdout)
    assert [r["profile"] for r in rows] == ["pragmatic", "growth", "full"]
    assert rows[0]["sizes"]["network"] == "2 AZs, 1 NAT gateway"
    assert rows[2]["sizes"]["network"] == "3 AZs, NAT per AZ, VPC endpoints, flow logs"
    assert "Cluster" in rows[0]["components"]
    cost = rows[0]["idle_cost"]  # the same figure as `cost --profile pragmatic` (us-east-1: a complete total)
    assert cost["idle_monthly"] == json.loads(run("cost", "--profile", "pragmatic", "--json").stdout)["idle_monthly"]
    assert cost["headline"] in res.stdout
    assert cost["region"] == "us-east-1" and cost["idle_is_total"] and cost["headline"] == f"${cost['idle_monthly']:,.2f}/month"
    eu = json.loads(run("profiles", "--region", "eu-central-1", "--json").stdout)
    assert eu[0]["idle_cost"]["unpriced"] == ["rds_gp3_gb_month.single_az"]
    assert eu[0]["idle_cost"]["headline"].startswith("at least $")


def test_console_script_exit_code_and_help():
    exe = Path(sys.executable).with_name("mlplatform")
    env = {**os.environ, "NO_COLOR": "1"}
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and "plan" in res.stdout and "profiles" in res.stdout
    res = subprocess.run([str(exe), "plan", "--profile", "nope"], capture_output=True, text=True, env=env)
    assert res.returncode == 1 and res.stderr.strip() == (
        "error: profile: unknown profile 'nope'; use one of pragmatic, growth, full")


def test_commands_pause_the_collector_and_give_it_back():
    import gc

    from mlplatform.stacks.runtime import paused_gc

    seen = []
    with paused_gc():
        seen.append(gc.isenabled())
        with paused_gc():
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())
    assert seen == [False, False, False] and gc.isenabled()
    # in-process callers (a test, a notebook) get their collector back after a command and after a plan
    assert run("plan", "-p", "pragmatic", "--json").exit_code == 0 and gc.isenabled()
    from conftest import plan_of

    plan_of(lambda: None)
    assert gc.isenabled()


def test_plan_inside_an_initialised_project_uses_its_stack_file(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlplatform\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  mlplatform:profile: growth\n  mlplatform:network:\n    az_count: 2\n")
    monkeypatch.chdir(tmp_path)
    data = json.loads(run("plan", "--json").stdout)
    assert data["source"] == {"kind": "project", "stack": "dev", "file": str(tmp_path / "Pulumi.dev.yaml"),
                              "profile": "growth", "profile_from": "file", "region": "eu-west-1",
                              "overrides": ["network.az_count"], "notices": data["source"]["notices"]}
    monkeypatch.chdir(tmp_path.parent)  # outside the project: the same values as options plan the same
    expected = json.loads(run("plan", "-p", "growth", "--region", "eu-west-1", "--set", "network.az_count=2",
                              "--json").stdout)
    assert {k: v for k, v in data.items() if k != "source"} == {k: v for k, v in expected.items() if k != "source"}
    monkeypatch.chdir(tmp_path)
    assert run("plan").stdout.splitlines()[0] == "Stack dev (Pulumi.dev.yaml): profile growth, region eu-west-1, 1 override"
    # The stack file can also be passed explicitly, from anywhere.
    monkeypatch.chdir(tmp_path.parent)
    explicit = json.loads(run("plan", "--config", str(tmp_path / "Pulumi.dev.yaml"), "--json").stdout)
    assert explicit["source"]["kind"] == "config" and explicit["source"]["stack"] == "dev"
    assert {k: v for k, v in explicit.items() if k != "source"} == {k: v for k, v in data.items() if k != "source"}
    res = run("plan", "--config", str(tmp_path / "Pulumi.dev.yaml"), "--profile", "full")
    assert res.exit_code == 1 and "is a Pulumi stack file; it names its own profile" in res.stderr


def test_written_plan_is_readable_by_others(tmp_path):
    out = tmp_path / "plan.json"
    assert run("plan", "--json", "--out", str(out)).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o644


def test_profile_and_team_size_together_is_a_usage_error():
    res = CliRunner().invoke(cli, ["plan", "-p", "pragmatic", "--team-size", "25"])
    assert res.exit_code == 2 and "--profile and --team-size both pick the profile" in res.stderr


def test_piped_plan_never_truncates_a_type_or_name():
    out = run("plan", "-p", "full").stdout
    assert "…" not in out
    data = json.loads(run("plan", "-p", "full", "--json").stdout)
    longest = max(data["resources"], key=lambda r: len(r["type"]))
    assert longest["type"] in out
