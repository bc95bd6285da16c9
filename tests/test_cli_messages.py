"""What a new user hit in the CLI's messages and options (issue 25): JSON errors, files named in messages,
writes refused before the plan, one option family, and a plan tree readable at 80 columns."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks import files
from mlplatform.stacks import source as source_module
from mlplatform.stacks.config import stackfile

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "existing-vpc" / "stack.yaml"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


@pytest.fixture
def stack_yaml(tmp_path):
    p = tmp_path / "stack.yaml"
    shutil.copy(EXAMPLE, p)
    os.chmod(p, 0o644)
    return p


@pytest.fixture
def no_planning(monkeypatch):
    """A command that must refuse before planning fails the test if it plans."""

    def planned(*args, **kwargs):
        raise AssertionError("planned before refusing")

    from mlplatform.stacks import program

    monkeypatch.setattr(source_module.StackSource, "plan", planned)
    monkeypatch.setattr(program, "plan", planned)


@pytest.fixture
def read_only_fs(monkeypatch, tmp_path):
    """tmp_path behaves like a read-only mount (no such mount can be made here): writing a file there or
    creating one fails with EROFS, access(W_OK) is false and statvfs says ST_RDONLY, as the kernel does."""
    real_access, real_statvfs, real_mkstemp = os.access, os.statvfs, files.tempfile.mkstemp
    inside = lambda p: str(p).startswith(str(tmp_path))  # noqa: E731

    class RO:
        def __init__(self, st):
            self.st = st

        def __getattr__(self, name):
            return self.st.f_flag | os.ST_RDONLY if name == "f_flag" else getattr(self.st, name)

    monkeypatch.setattr(stackfile.os, "access", lambda p, m, **k: False if inside(p) and m & os.W_OK
                        else real_access(p, m, **k))
    monkeypatch.setattr(stackfile.os, "statvfs", lambda p: RO(real_statvfs(p)) if inside(p) else real_statvfs(p))

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and inside(dir):
            raise OSError(30, "Read-only file system")
        return real_mkstemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)


# -- --json errors -----------------------------------------------------------------------------------
def test_an_error_under_json_is_a_json_object_on_stdout_and_a_line_on_stderr():
    res = run("plan", "--profile", "nope", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout) == {
        "error": {"field": "profile", "problem": "unknown profile 'nope'", "fix": "use one of pragmatic, growth, full"},
        "exit": 1,
    }
    assert res.stderr.strip() == "error: profile: unknown profile 'nope'; use one of pragmatic, growth, full"
    res = run("upgrade", "-p", "growth", "--json")  # a usage error: exit 2
    assert res.exit_code == 2 and json.loads(res.stdout)["exit"] == 2
    assert json.loads(res.stdout)["error"]["field"] == "--json" and "--dry-run" in res.stderr
    res = run("cost", "--team-size", "many", "--json")  # click's own usage error
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["field"] == "--team-size"
    assert "Invalid value for '--team-size'" in res.stderr
    res = run("plan", "--profile", "nope")  # without --json stdout stays empty
    assert res.exit_code == 1 and res.stdout == ""


# -- files named in messages ---------------------------------------------------------------------------
def test_a_saved_plan_that_is_not_one_is_named_with_what_it_is_not(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# hello\n")
    res = run("cost", "--plan", str(readme))
    assert res.exit_code == 1 and "JSONDecodeError" not in res.stderr
    assert f"{readme} is not JSON" in res.stderr and "not a saved plan" in res.stderr
    other = tmp_path / "package.json"
    other.write_text('{"name": "x"}')
    res = run("cost", "--plan", str(other))
    assert res.exit_code == 1 and "KeyError" not in res.stderr
    assert f"{other} is JSON but not a saved plan: it has no `resources` list" in res.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"resources": [{"type": "x"}]}')
    res = run("cost", "--plan", str(broken))
    assert res.exit_code == 1 and "KeyError" not in res.stderr and "a resource lacks `urn`" in res.stderr


def test_team_add_and_upgrade_on_a_read_only_file_system_say_so(stack_yaml, read_only_fs, no_planning):
    before = stack_yaml.read_bytes()
    res = run("team", "add", "vision", "--config", str(stack_yaml))
    assert res.exit_code == 1 and "Read-only file system" in res.stderr and "chmod" not in res.stderr
    res = run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--yes")
    assert res.exit_code == 1 and "Read-only file system" in res.stderr and "chmod" not in res.stderr
    assert stack_yaml.read_bytes() == before and sorted(p.name for p in stack_yaml.parent.iterdir()) == ["stack.yaml"]


def test_evidence_verify_names_a_public_key_file_that_is_not_one(tmp_path):
    not_a_key = tmp_path / "hostname"
    not_a_key.write_text("box\n")
    res = run("evidence", "verify", "--ledger", "s3://nowhere", "--public-key", str(not_a_key))
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: --public-key: {not_a_key} is not a PEM or DER public key")


# -- writes refused before the plan --------------------------------------------------------------------
def test_plan_out_onto_an_existing_file_is_refused_before_planning(tmp_path, no_planning):
    out = tmp_path / "plan.json"
    out.write_text("keep me")
    res = run("plan", "-p", "pragmatic", "--out", str(out))
    assert res.exit_code == 1 and f"{out} already exists" in res.stderr and out.read_text() == "keep me"


def test_check_sarif_into_an_unwritable_folder_is_refused_before_planning(tmp_path, read_only_fs, no_planning):
    res = run("check", "-p", "pragmatic", "--sarif", str(tmp_path / "out.sarif"))
    assert res.exit_code == 1 and "--sarif" in res.stderr and "Read-only file system" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_team_add_into_an_unwritable_folder_is_refused_before_planning(stack_yaml, monkeypatch, no_planning):
    def refuse(*args, **kwargs):  # root writes anywhere: the folder refuses like a read-only one would
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    res = run("team", "add", "vision", "--config", str(stack_yaml))
    assert res.exit_code == 1 and f"cannot write in {stack_yaml.parent}: Permission denied" in res.stderr


# -- small message fixes --------------------------------------------------------------------------------
def test_a_field_without_equals_is_a_usage_error_like_set():
    res = run("evidence", "record", "evaluation", "--model", "m", "--digest", "sha256:" + "a" * 64,
              "--field", "k", "--ledger", "s3://nowhere")
    assert res.exit_code == 2 and "'k' is not key=value" in res.stderr
    assert run("plan", "--set", "k").exit_code == 2


@pytest.mark.parametrize("kind, article", [("evaluation", "an"), ("approval", "an"), ("deployment", "a")])
def test_records_take_the_right_article(kind, article):
    from mlplatform.stacks.evidence import records
    from mlplatform.stacks.evidence.errors import EvidenceError

    with pytest.raises(EvidenceError) as e:
        records.build_predicate(kind, "sha256:" + "a" * 64, {"bogus": "1"}, {})
    assert f"is not a field of {article} {kind} record" in str(e.value)


@pytest.mark.parametrize("columns", ["60", "80", "100"])
def test_evidence_record_help_never_breaks_a_kind_across_lines(columns):
    out = run("evidence", "record", "--help", env={"COLUMNS": columns}).stdout
    for kind in ("provenance", "evaluation", "approval", "deployment", "observation", "review"):
        assert kind in out.replace(",", " ").replace(".", " ").split(), kind


def test_check_no_scanners_help_names_parliament():
    out = " ".join(run("check", "--help").stdout.split())
    assert "parliament." in out.split("--no-scanners", 1)[1].split("--", 1)[0]


# -- one option family ------------------------------------------------------------------------------------
def test_upgrade_takes_profile_and_config_and_the_old_spellings_say_they_are_deprecated(stack_yaml):
    new = run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--dry-run", "--json")
    assert new.exit_code == 0, new.stderr
    assert "deprecated" not in new.stderr
    old = run("upgrade", "--to", "growth", "--stack-file", str(stack_yaml), "--dry-run", "--json")
    assert old.exit_code == 0, old.stderr
    assert old.stderr.splitlines() == ["note: --to is deprecated; use -p/--profile",
                                       "note: --stack-file is deprecated; use --config"]
    assert json.loads(old.stdout)["diff"] == json.loads(new.stdout)["diff"]
    res = run("upgrade", "-p", "growth", "--to", "full", "--config", str(stack_yaml), "--dry-run")
    assert res.exit_code == 2 and "disagree" in res.stderr


def test_upgrade_takes_usage_set_and_region_for_the_dry_run(stack_yaml, tmp_path):
    usage = tmp_path / "usage.yaml"
    usage.write_text("gpu_node_hours: {default: 300}\n")
    base = json.loads(run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--dry-run", "--json").stdout)
    used = run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--dry-run", "--json", "--usage", str(usage))
    assert used.exit_code == 0, used.stderr
    assert json.loads(used.stdout)["cost"]["monthly_after"] > base["cost"]["monthly_after"]
    moved = run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--dry-run", "--json",
                "--region", "eu-west-1", "--set", "monitoring.retention_days=20")
    assert moved.exit_code == 0, moved.stderr
    data = json.loads(moved.stdout)
    assert data["source"]["region"] == "eu-west-1" and data["cost"]["region"] == "eu-west-1"
    assert "monitoring.retention_days" in data["source"]["overrides"]
    before = stack_yaml.read_bytes()
    res = run("upgrade", "-p", "growth", "--config", str(stack_yaml), "--yes", "--set", "monitoring.retention_days=20")
    assert res.exit_code == 2 and "--set" in res.stderr and "--dry-run" in res.stderr
    assert stack_yaml.read_bytes() == before


def test_diff_takes_dir(tmp_path):
    project = tmp_path / "p"
    assert run("init", str(project), "--non-interactive", "--team-size", "3").exit_code == 0
    res = run("diff", "--from", "growth", "--dir", str(project), "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["source"]["kind"] == "project" and data["source"]["file"] == str((project / "Pulumi.dev.yaml").resolve())


def test_team_add_sets_pvc_and_storage_quotas_and_runners(stack_yaml):
    res = run("team", "add", "vision", "--pvc-quota", "4", "--storage-gib", "200", "--cpu-runners", "0:2",
              "--gpu-runners", "0:1", "--config", str(stack_yaml), "--json")
    assert res.exit_code == 0, res.stderr
    team = next(t for t in yaml.safe_load(stack_yaml.read_text())["teams"] if t["name"] == "vision")
    assert team["pvc_quota"] == 4 and team["storage_quota_gib"] == 200
    assert team["runners"] == {"cpu": {"min": 0, "max": 2}, "gpu": {"min": 0, "max": 1}}
    listed = json.loads(run("team", "list", "--config", str(stack_yaml), "--json").stdout)
    assert next(t for t in listed if t["name"] == "vision")["runners"]["gpu"] == {"min": 0, "max": 1}
    res = run("team", "add", "nlp", "--cpu-runners", "3", "--config", str(stack_yaml))
    assert res.exit_code == 1 and "--cpu-runners: '3' is not MIN:MAX" in res.stderr


# -- seeing what a plan does --------------------------------------------------------------------------------
def test_plan_show_prints_a_resources_inputs_and_options():
    res = run("plan", "-p", "pragmatic", "--show", "NodeGroup::ml-dev-system")
    assert res.exit_code == 0, res.stderr
    shown = yaml.safe_load(res.stdout.split("\n", 2)[2])
    assert shown["inputs"]["instanceTypes"] == ["t3a.medium"] and shown["inputs"]["scalingConfig"]["minSize"] == 2
    assert shown["options"]["parent"].endswith("mlplatform:compute:Cluster::ml-dev")
    assert shown["options"]["protect"] is False and shown["options"]["depends_on"]
    data = json.loads(run("plan", "-p", "pragmatic", "--show", "ml-dev-eks", "--json").stdout)
    assert data["resource"]["type"] == "aws:eks/cluster:Cluster" and data["resource"]["protect"] is True
    res = run("plan", "-p", "pragmatic", "--show", "ml-dev-system")  # two resources of that name
    assert res.exit_code == 2 and "NodeGroup::ml-dev-system" in res.stderr and "LaunchTemplate::ml-dev-system" in res.stderr
    res = run("plan", "-p", "pragmatic", "--show", "ml-dev-ek")
    assert res.exit_code == 1 and "did you mean" in res.stderr and "ml-dev-eks" in res.stderr


@pytest.mark.parametrize("columns", [80, 120])
def test_the_plan_tree_stays_readable(columns):
    plan = json.loads(run("plan", "-p", "growth", "--json").stdout)
    out = run("plan", "-p", "growth", env={"COLUMNS": str(columns)}).stdout
    lines = out.splitlines()
    assert all(len(line) <= columns for line in lines), [x for x in lines if len(x) > columns]
    rows = [x for x in lines if x.startswith("+ ")]
    assert len(rows) == len(plan["resources"])  # one row per resource, each starting with its +
    words = set(out.split())
    for r in plan["resources"]:  # every type and name whole, unless its line had to be cut (…)
        assert r["name"] in words or any(r["name"][:20] in x and x.endswith("…") for x in lines), r["name"]
        assert r["type"] in words or any(x.endswith("…") and r["type"][:30] in x for x in rows), r["type"]
    cut = [x for x in lines if x.endswith("…")]
    assert len(cut) <= 2


def test_plan_details_shows_inputs_under_each_row():
    out = run("plan", "-p", "pragmatic", "--details", env={"COLUMNS": "120"}).stdout
    lines = out.splitlines()
    i = next(n for n, x in enumerate(lines) if x.startswith("+ ") and "aws:eks/cluster:Cluster" in x)
    below = "\n".join(lines[i + 1 : i + 12])
    assert "ml-dev-eks" in below and "version:" in below and "encryptionConfig:" in below
