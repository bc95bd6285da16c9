"""Upgrade safety across every profile pair, and `mlplatform upgrade` refusing, writing and backing up."""

from __future__ import annotations

import json
import shutil
from itertools import permutations
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks.config import spec as spec_module
from mlplatform.stacks.analyses.diff import STATEFUL_TYPES, diff_plans, physical_name
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import PROFILES, load_spec
from mlplatform.stacks.source import stack_source
from mlplatform.stacks.project.upgrade import UpgradeRefused, apply, prepare


def read_config(path):
    return stack_source(config_file=path)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "existing-vpc"
# What teams typically override on top of a profile (and keep across an upgrade).
TYPICAL = {
    "sets": ["network.az_count=3", "database.instance_class=db.t4g.small", "registry.repositories=[images, models, datasets]",
             "tags.team=vision", "cluster.public_access_cidrs=[203.0.113.0/24]",
             "teams=[{name: vision, gpu_quota: 1, principals: [arn:aws:iam::123456789012:role/vision]}]"],
    "region": "eu-central-1",
}
VARIANTS = {"defaults": {}, "typical-overrides": TYPICAL}


@pytest.fixture(scope="module")
def plans():
    return {(v, p): plan(load_spec(p, **kw)) for v, kw in VARIANTS.items() for p in PROFILES}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("old,new", list(permutations(PROFILES, 2)))
def test_profile_change_keeps_every_stateful_resource(plans, variant, old, new):
    """No stateful resource is replaced or deleted; its URN and cloud name are stable; it stays protected."""
    before, after = plans[(variant, old)], plans[(variant, new)]
    d = diff_plans(before, after, old, new)
    assert d.unsafe() == [] and d.data_loss == []
    stateful = [r for r in before.resources if r.type in STATEFUL_TYPES]
    assert {r.type for r in stateful} == {"aws:eks/cluster:Cluster", "aws:rds/instance:Instance", "aws:s3/bucket:Bucket",
                                          "aws:ecr/repository:Repository", "aws:kms/key:Key"} & STATEFUL_TYPES
    now = after.by_urn()
    changed = {c.urn: c for c in d.resources}
    for r in stateful:
        assert r.urn in now, f"{r.urn} disappears"
        assert physical_name(now[r.urn]) == physical_name(r)
        assert r.protect and now[r.urn].protect, f"{r.urn} is not protected"
        assert changed.get(r.urn) is None or changed[r.urn].op == "update"
    # The diff is not trivially empty: the profiles really differ.
    assert d.summary["add"] + d.summary["change"] + d.summary["destroy"] > 0


def _unsafe_growth(monkeypatch):
    """A growth profile whose registry prefix differs: every ECR repository would be renamed (replaced)."""
    real = spec_module.profile_defaults

    def fake(profile: str):
        data = real(profile)
        if profile == "growth":
            data = {**data, "registry": {**data["registry"], "repository_prefix": "renamed"}}
        return data

    monkeypatch.setattr(spec_module, "profile_defaults", fake)


@pytest.fixture
def project(tmp_path):
    for name in ("stack.yaml", "Pulumi.dev.yaml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_prepare_and_apply_refuse_a_constructed_unsafe_change(project, monkeypatch):
    _unsafe_growth(monkeypatch)
    cfg = read_config(project / "stack.yaml")
    up = prepare([cfg], "growth")
    assert len(up.refused) == 2 and all("aws:ecr/repository:Repository" in x and "REPLACED" in x for x in up.refused)
    before = (project / "stack.yaml").read_text()
    with pytest.raises(UpgradeRefused):
        apply(up)
    assert (project / "stack.yaml").read_text() == before and not (project / "stack.yaml.bak").exists()


def test_cli_refuses_with_exit_3_lists_resources_and_writes_nothing(project, monkeypatch):
    _unsafe_growth(monkeypatch)
    files = {p.name: p.read_bytes() for p in project.iterdir()}
    res = run("upgrade", "--to", "growth", "--config", str(project / "stack.yaml"), "--yes")
    assert res.exit_code == 3
    assert "refused" in res.stderr and "nothing was written" in res.stderr
    assert res.stderr.count("aws:ecr/repository:Repository") == 2 and "ml-dev-images" in res.stderr
    assert "Data loss:" in res.stdout and "REPLACE aws:ecr/repository:Repository" in res.stdout
    assert {p.name: p.read_bytes() for p in project.iterdir()} == files  # nothing written, no backup, no temp


def test_cli_upgrade_rewrites_the_stack_config_keeping_comments(project):
    path = project / "stack.yaml"
    original = path.read_text()
    path.chmod(0o644)
    res = run("upgrade", "--to", "growth", "--config", str(path), "--yes")
    assert res.exit_code == 0, res.stderr
    text = path.read_text()
    assert "profile: growth" in text and "profile: pragmatic" not in text
    assert "# the office range only" in text and "# A growth stack that adopts the VPC" in text  # header: new profile
    assert "header comment now describes profile growth" in res.stdout
    expected = yaml.safe_load(original) | {"profile": "growth"}
    assert yaml.safe_load(text) == expected
    assert (project / "stack.yaml.bak").read_text() == original
    assert text == original.replace("profile: pragmatic", "profile: growth").replace("# A pragmatic", "# A growth")
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in project.iterdir()) == ["Pulumi.dev.yaml", "stack.yaml", "stack.yaml.bak"]
    assert "Plan: " in res.stdout and "Monthly cost (eu-west-1): idle $" in res.stdout
    assert "Nothing has changed in the cloud yet" in res.stdout and f"mlplatform plan --config {path}" in res.stdout
    assert load_spec(config_file=path).profile == "growth"


def test_cli_upgrade_rewrites_the_pulumi_stack_file(project):
    stack_file = project / "Pulumi.dev.yaml"
    res = run("upgrade", "--to", "full", "--stack-file", str(stack_file), "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["from"] == "pragmatic" and data["to"] == "full" and data["refused"] == []
    assert data["written"] == [{"file": str(stack_file), "backup": str(stack_file) + ".bak"}]
    assert any(s.startswith(f"mlplatform preview --dir {project} --stack dev") for s in data["next_steps"])
    assert data["cost"]["idle_after"] > data["cost"]["idle_before"] > 0
    cfg = yaml.safe_load(stack_file.read_text())["config"]
    assert cfg["mlplatform:profile"] == "full" and cfg["aws:region"] == "eu-west-1"
    assert "# The same stack as stack.yaml" in stack_file.read_text()


def test_cli_upgrade_finds_the_project_stack_file(tmp_path):
    shutil.copy(EXAMPLE / "Pulumi.dev.yaml", tmp_path / "Pulumi.prod.yaml")
    res = run("upgrade", "--to", "growth", "--dir", str(tmp_path), "--yes")
    assert res.exit_code == 0, res.stderr
    assert yaml.safe_load((tmp_path / "Pulumi.prod.yaml").read_text())["config"]["mlplatform:profile"] == "growth"
    assert "--stack prod" in res.stdout


def test_cli_upgrade_without_yes_and_without_a_terminal_refuses(project):
    before = (project / "stack.yaml").read_text()
    res = run("upgrade", "--to", "growth", "--config", str(project / "stack.yaml"))
    assert res.exit_code == 3 and "pass --yes" in res.stderr
    assert (project / "stack.yaml").read_text() == before and not (project / "stack.yaml.bak").exists()


def test_cli_upgrade_to_the_current_profile_is_a_no_op(project):
    res = run("upgrade", "--to", "pragmatic", "--config", str(project / "stack.yaml"), "--yes")
    assert res.exit_code == 0 and "already on profile pragmatic" in res.stdout
    assert not (project / "stack.yaml.bak").exists()


def test_cli_upgrade_needs_a_config(tmp_path):
    res = run("upgrade", "--to", "growth", "--dir", str(tmp_path))
    assert res.exit_code == 1 and f"--dir: {tmp_path} has no Pulumi.yaml" in res.stderr and "--stack-file" not in res.stderr


def test_rewrite_adds_a_missing_profile_key(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text("# my stack\nteam_size: 3   # people\nnetwork:\n  az_count: 3\n")
    sf = read_config(path).stack_file
    sf.save(sf.set_value("profile", "growth"))
    text = path.read_text()
    assert text.splitlines()[0] == "# my stack" and "# people" in text
    assert yaml.safe_load(text) == {"profile": "growth", "team_size": 3, "network": {"az_count": 3}}


def test_database_storage_never_shrinks_on_a_downgrade():
    from mlplatform.stacks.analyses.diff import diff_plans
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    down = diff_plans(plan(load_spec("full")), plan(load_spec("pragmatic")))
    assert down.unsafe() == []  # no data loss ...
    (line,) = down.blockers()  # ... but AWS would refuse the smaller volume halfway through `up`
    assert "cannot shrink (100 -> 20)" in line and "database.allocated_storage_gib" in line
    kept = diff_plans(plan(load_spec("full")), plan(load_spec("pragmatic", sets=["database.allocated_storage_gib=100"])))
    assert kept.blockers() == []
    up = diff_plans(plan(load_spec("pragmatic")), plan(load_spec("full")))
    assert up.blockers() == []  # growing is fine


def test_two_files_that_disagree_are_refused_before_anything_is_written(tmp_path):
    a, b = tmp_path / "stack.yaml", tmp_path / "Pulumi.dev.yaml"
    a.write_text("profile: pragmatic\n")
    b.write_text("config:\n  mlplatform:profile: pragmatic\n  mlplatform:network:\n    az_count: 3\n")
    from mlplatform.stacks.config.spec import SpecError

    with pytest.raises(SpecError, match=r"^stack.yaml: describes a different stack than Pulumi.dev.yaml"):
        prepare([read_config(b), read_config(a)], "growth")
    assert a.read_text() == "profile: pragmatic\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "Pulumi.dev.yaml", "stack.yaml"]
    b.write_text("config:\n  mlplatform:profile: pragmatic\n")
    assert prepare([read_config(b), read_config(a)], "growth").target.profile == "growth"


def test_upgrade_moves_team_size_and_header_with_the_profile(tmp_path, monkeypatch):
    """Issue 25: after `init --team-size 3` and `upgrade --to growth`, the file describes growth throughout."""
    d = tmp_path / "proj"
    assert run("init", str(d), "--team-size", "3", "--region", "eu-central-1", "--non-interactive").exit_code == 0
    before = (d / "Pulumi.dev.yaml").read_text()
    assert "mlplatform:team_size: 3" in before and "stacks/profiles/pragmatic.yaml" in before
    monkeypatch.chdir(d)
    res = run("upgrade", "--to", "growth", "--yes")
    assert res.exit_code == 0, res.stderr
    after = (d / "Pulumi.dev.yaml").read_text()
    assert after == before.replace("mlplatform:profile: pragmatic", "mlplatform:profile: growth").replace(
        "mlplatform:team_size: 3", "mlplatform:team_size: 6").replace("stacks/profiles/pragmatic.yaml",
                                                                      "stacks/profiles/growth.yaml")
    assert "mlplatform:team_size 3 -> 6 (growth is for teams of 6-20" in res.stdout
    assert stack_source(config_file=d / "Pulumi.dev.yaml").spec.profile == "growth"
    # a team size already inside the target's band is the user's: kept
    (d / "Pulumi.dev.yaml").write_text(after.replace("team_size: 6", "team_size: 25"))
    assert run("upgrade", "--to", "full", "--yes").exit_code == 0
    assert "mlplatform:team_size: 25" in (d / "Pulumi.dev.yaml").read_text()


def test_diff_from_the_backup_upgrade_wrote(tmp_path, monkeypatch):
    """Issue 25: `diff --from Pulumi.dev.yaml.bak` reads the backup as the stack file it was."""
    d = tmp_path / "proj"
    assert run("init", str(d), "--team-size", "3", "--non-interactive").exit_code == 0
    monkeypatch.chdir(d)
    assert run("upgrade", "--to", "growth", "--yes").exit_code == 0
    via_backup = run("diff", "--from", "Pulumi.dev.yaml.bak", "--json")
    assert via_backup.exit_code == 0, via_backup.stderr
    (d / "old").mkdir()
    (d / "old" / "Pulumi.dev.yaml").write_bytes((d / "Pulumi.dev.yaml.bak").read_bytes())
    (d / "old" / "Pulumi.yaml").write_bytes((d / "Pulumi.yaml").read_bytes())
    via_name = run("diff", "--from", "old/Pulumi.dev.yaml", "--json")
    a, b = json.loads(via_backup.stdout), json.loads(via_name.stdout)
    assert a["summary"] == b["summary"] and a["summary"]["add"] > 0
    assert a["from_source"]["stack"] == "dev"


def test_a_refused_upgrade_under_json_is_one_document_with_the_diff_and_the_error(project, monkeypatch):
    _unsafe_growth(monkeypatch)
    res = run("upgrade", "-p", "growth", "--config", str(project / "stack.yaml"), "--yes", "--json")
    assert res.exit_code == 3
    data = json.loads(res.stdout)  # one JSON document, not the upgrade then the error
    assert len(data["refused"]) == 2 and data["written"] == [] and data["exit"] == 3
    assert data["error"]["field"] == "upgrade" and "nothing was written" in data["error"]["problem"]
    assert "refused" in res.stderr
