"""StackSource: every command acts on the stack you stand in, says so first, and refuses what it can't read.

Issue 13's done-when: in a project made by `init --profile growth --region eu-west-1 --stack prod`,
plan, cost, check, `diff --from pragmatic` and `ci render` report stack prod / growth / eu-west-1;
typos in a stack file exit 1 with a did-you-mean; init and plan accept and refuse the same values;
upgrade changes exactly the profile line; the stack file writer keeps formatting and fails cleanly.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks.source import stack_source
from mlplatform.stacks.config.stackfile import StackFile
from mlplatform.stacks.errors import SpecError, UsageError

FIRST_LINE = "Stack prod (Pulumi.prod.yaml): profile growth, region eu-west-1, 0 overrides"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    """A project made by `init --profile growth --region eu-west-1 --stack prod`, as a new user would."""
    root = tmp_path_factory.mktemp("prod")
    res = run("init", str(root / "proj"), "--profile", "growth", "--region", "eu-west-1", "--stack", "prod",
              "--non-interactive")
    assert res.exit_code == 0, res.output
    return root / "proj"


@pytest.fixture
def inside(prod, monkeypatch):
    monkeypatch.chdir(prod)
    return prod


# -- every verb reports the project's stack ---------------------------------------------------------
def test_plan_reports_and_plans_the_project_stack(inside):
    res = run("plan")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == FIRST_LINE
    # the profile's GPU list is narrowed to eu-west-1 with a notice, never silently
    assert lines[1].startswith("note: gpu.pools.0.instance_types: g6.xlarge, g6.2xlarge not offered in eu-west-1")
    data = json.loads(run("plan", "--json").stdout)
    assert (data["stack"], data["region"], data["profile"]) == ("prod", "eu-west-1", "growth")
    assert data["source"]["stack"] == "prod" and data["source"]["file"] == str(inside.resolve() / "Pulumi.prod.yaml")
    assert all("ml-prod" in r["name"] or not r["name"].startswith("ml-") for r in data["resources"])


def test_cost_prices_the_project_stack(inside):
    res = run("cost", "--json")
    data = json.loads(res.stdout)
    assert data["source"]["stack"] == "prod" and data["profile"] == "growth" and data["region"] == "eu-west-1"
    assert run("cost").stdout.splitlines()[0] == FIRST_LINE


def test_check_checks_the_project_stack(inside):
    res = run("check", "--no-scanners")
    assert res.stdout.splitlines()[0] == FIRST_LINE, res.output
    assert "Policy check of profile growth" in res.stdout


def test_diff_from_a_profile_compares_with_the_project(inside):
    res = run("diff", "--from", "pragmatic", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["source"]["stack"] == "prod" and data["source"]["profile"] == "growth"
    assert data["from_source"]["stack"] == "prod" and data["from_source"]["region"] == "eu-west-1"
    assert data["from_source"]["profile"] == "pragmatic" and data["cost"]["region"] == "eu-west-1"


def test_ci_render_uses_the_stack_its_runners_backend_and_secrets(inside, tmp_path):
    res = run("ci", "render", "--model-owner", "@acme/ml-leads", "--out", str(tmp_path / "wf"))
    assert res.exit_code == 1 and "local folder" in res.stderr and "--backend s3" in res.stderr
    assert not (tmp_path / "wf").exists()
    project = inside / "Pulumi.yaml"
    original = project.read_text()
    try:  # what `init --backend s3` writes (that path needs AWS; the backend URL is all ci render reads)
        project.write_text(original.replace("file://.pulumi-state", "s3://mlplatform-state-123456789012-eu-west-1"
                                            "?region=eu-west-1&awssdk=v2"))
        res = run("ci", "render", "--model-owner", "@acme/ml-leads", "--out", str(tmp_path / "wf"))
        assert res.exit_code == 0, res.output
        assert res.stdout.splitlines()[0] == FIRST_LINE
        train = (tmp_path / "wf" / "train-evaluate.yml").read_text()
        platform = (tmp_path / "wf" / "platform.yml").read_text()
        runs_on = {line.split(":", 1)[1].strip().strip('"') for line in train.splitlines() if "runs-on:" in line
                   and not line.lstrip().startswith("#")}
        # the stack's own runners, or GitHub's hosted ones (the release job only calls the GitHub API)
        assert runs_on and all(label.startswith(("ml-prod-", "ubuntu-")) for label in runs_on), runs_on
        assert {"ml-prod-cpu", "ml-prod-gpu"} <= runs_on, runs_on
        assert "PULUMI_CONFIG_PASSPHRASE" in platform  # the stack's secrets use a passphrase
        assert '"prod"' in platform and '"dev"' not in platform
    finally:
        project.write_text(original)


# -- reading stack files ------------------------------------------------------------------------------
@pytest.mark.parametrize("line,message", [
    ("  mlplatform:profle: full\n", "mlplatform:profle: did you mean mlplatform:profile?"),
    ("  mlplatform:netwrok: {az_count: 3}\n", "mlplatform:netwrok: did you mean mlplatform:network?"),
])
def test_a_typo_in_the_stack_file_is_exit_1_with_did_you_mean(tmp_path, monkeypatch, line, message):
    (tmp_path / "Pulumi.yaml").write_text("name: mlplatform\nruntime: python\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  aws:region: eu-west-1\n  pulumi:tags: {a: b}\n"
                                              "  aws:skipMetadataApiCheck: false\n" + line)
    monkeypatch.chdir(tmp_path)
    for verb in (["plan"], ["cost"], ["check", "--no-scanners"], ["doctor", "--offline"], ["team", "list"]):
        res = run(*verb)
        assert res.exit_code == 1, (verb, res.output)
        assert res.stderr.strip() == f"error: Pulumi.prod.yaml: {message}; it is not a key mlplatform reads; fix its spelling"


def test_stack_resolution(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlplatform\nruntime: python\n")
    for s in ("prod", "staging"):
        (tmp_path / f"Pulumi.{s}.yaml").write_text("config:\n  mlplatform:profile: growth\n")
    monkeypatch.chdir(tmp_path)
    res = run("plan")
    assert res.exit_code == 2 and "2 stacks (prod, staging)" in res.stderr and "--stack prod or --stack staging" in res.stderr
    with pytest.raises(UsageError):
        stack_source()
    assert stack_source(stack="staging").stack == "staging"
    with pytest.raises(SpecError, match=r"^--stack: .* has no Pulumi.qa.yaml; pass --stack prod or --stack staging$"):
        stack_source(stack="qa")
    monkeypatch.chdir(tmp_path.parent)
    assert stack_source(directory=tmp_path, stack="prod").describe() == \
        "Stack prod (Pulumi.prod.yaml): profile growth, region us-east-1, 0 overrides"
    outside = stack_source(profile="full", sets=["network.az_count=2"])
    assert outside.describe() == "Stack dev (--profile): profile full, region us-east-1, 1 override"
    assert outside.to_dict()["overrides"] == ["network.az_count"]


def test_a_user_written_gpu_type_the_region_lacks_is_an_error_everywhere(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlplatform\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  aws:region: eu-west-1\n  mlplatform:gpu:\n    pools:\n"
        "      - {name: gpu, instance_types: [g6.xlarge], max: 2}\n")
    monkeypatch.chdir(tmp_path)
    for verb in (["plan"], ["cost"], ["check", "--no-scanners"], ["doctor", "--offline"]):
        res = run(*verb)
        assert res.exit_code == 1 and "gpu.pools.0.instance_types: g6.xlarge is not offered in eu-west-1" in res.stderr


# -- init validates through the same code as plan ------------------------------------------------------
POOL = {"name": "gpu", "instance_types": ["g5.xlarge"], "max": 2}
VPC = {"vpc_id": "vpc-0a1b2c3d4e5f60718", "private_subnet_ids": ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]}
CASES = [  # (region, [(key path, value)], init and plan accept it)
    ("us-east-1", [], True),
    ("us-east-1", [("network.az_count", 3)], True),
    ("eu-west-1", [("gpu.pools", [POOL])], True),
    ("us-east-1", [("network.existing", VPC)], True),
    ("us-east-1", [("gpu.pools", [{**POOL, "instance_types": ["t3.large"]}])], False),
    ("eu-west-1", [("gpu.pools", [{**POOL, "instance_types": ["g6.xlarge"]}])], False),
    ("us-east-1", [("network.existing", {**VPC, "vpc_id": "vpc-123"})], False),
    ("us-east-1", [("network.existing", {**VPC, "private_subnet_ids": ["subnet-0aa11bb22cc33dd44"]})], False),
    ("us-east-1", [("network.az_count", 9)], False),
    ("eu-west-1", [("network.az_count", 4)], False),
    ("us-east-1", [("database.backup_retention_days", 40)], False),
    ("us-east-1", [("network.cidr_block", "10.0.0.0/8")], False),
    ("us-east-1", [("network.nat_gateways", "many")], False),
    ("us-east-1", [("runners.cpu", {"min": 5, "max": 4})], False),
    ("us-east-1", [("cluster.public_access_cidrs", ["not-a-cidr"])], False),
    ("us-east-1", [("mlflow.host", "mlflow.example.com")], False),
    ("us-east-1", [("teams", [{"name": "Bad_Name"}])], False),
    ("us-east-1", [("gpu.pools", [{**POOL, "min": 3}])], False),
    ("us-east-1", [("database.instance_class", "t4g.micro")], False),
]


def _nested(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for path, value in pairs:
        node = out
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


@pytest.mark.parametrize("region,pairs,ok", CASES, ids=[f"{i}-{'ok' if c[2] else 'refused'}" for i, c in enumerate(CASES)])
def test_init_succeeds_exactly_when_plan_of_the_same_values_succeeds(tmp_path, region, pairs, ok):
    target = tmp_path / "proj"
    sets = [f"--set={path}={json.dumps(value)}" for path, value in pairs]
    init = run("init", str(target), "--profile", "pragmatic", "--region", region, "--non-interactive", *sets)
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump({"profile": "pragmatic", "region": region, **_nested(pairs)}))
    planned = run("plan", "--config", str(config), "--json") if ok or init.exit_code == 0 else \
        run("plan", "--config", str(config), "--format", "k8s-yaml")
    assert (init.exit_code == 0) == (planned.exit_code == 0) == ok, (init.output, planned.output)
    if not ok:
        assert init.exit_code == 1 and planned.exit_code == 1
        assert init.stderr.count("\n") == 1 and planned.stderr.count("\n") == 1  # one line each
        assert not target.exists() or not any(target.iterdir()), "init wrote files although it failed"
    else:  # and what init wrote, plan reads back as the same stack
        written = stack_source(directory=target)
        assert written.spec == stack_source(config_file=config).spec


# -- the one stack-file writer ----------------------------------------------------------------------------
COMMENTED = """\
# Our production stack: reviewed by the platform team.
config:
  aws:region: eu-west-1   # where the data lives
  mlplatform:profile: 'pragmatic'  # pick with the team size
  mlplatform:network:
    az_count: 3
    # a second NAT costs money
    nat_gateways: single
  mlplatform:tags:
    cost-center: "ml-research"
"""


def test_upgrade_changes_exactly_the_profile_line(tmp_path, monkeypatch):
    (tmp_path / "Pulumi.yaml").write_text("name: mlplatform\nruntime: python\nbackend:\n  url: file://.pulumi-state\n")
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(COMMENTED)
    monkeypatch.chdir(tmp_path)
    res = run("upgrade", "--to", "growth", "--yes")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == "Stack prod (Pulumi.prod.yaml): profile pragmatic, region eu-west-1, 3 overrides"
    after = stack_file.read_text()
    changed = [line for line in difflib.ndiff(COMMENTED.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert changed == ["-   mlplatform:profile: 'pragmatic'  # pick with the team size",
                       "+   mlplatform:profile: growth  # pick with the team size"]
    assert (tmp_path / "Pulumi.prod.yaml.bak").read_text() == COMMENTED
    assert stack_source().spec.profile == "growth"


def test_a_second_backup_never_overwrites_the_first(tmp_path):
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(COMMENTED)
    sf = StackFile.read(path)
    assert sf.save(sf.set_value("profile", "growth"), backup=True) == tmp_path / "Pulumi.prod.yaml.bak"
    sf = StackFile.read(path)
    assert sf.save(sf.set_value("profile", "full"), backup=True) == tmp_path / "Pulumi.prod.yaml.bak.1"
    assert (tmp_path / "Pulumi.prod.yaml.bak").read_text() == COMMENTED
    assert "mlplatform:profile: growth" in (tmp_path / "Pulumi.prod.yaml.bak.1").read_text()
    assert "mlplatform:profile: full  # pick" in path.read_text()


def test_a_failed_write_is_one_error_and_leaves_nothing_behind(tmp_path, monkeypatch):
    from mlplatform.stacks import files

    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(COMMENTED)
    sf = StackFile.read(path)
    text = sf.set_value("profile", "growth")

    def refuse(src, dst):  # the rename onto a read-only file (or a full disk) fails
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(SpecError) as e:
        sf.save(text, backup=True)
    assert "\n" not in str(e.value) and "Permission denied" in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.prod.yaml"]  # no .bak, no temporary file
    assert path.read_text() == COMMENTED


def test_set_value_keeps_quotes_comments_and_adds_a_missing_key(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text("# my stack\nteam_size: 3   # people\nnetwork:\n    az_count: 3\n")
    sf = StackFile.read(path)
    text = sf.set_value("profile", "growth")
    assert text == "# my stack\nprofile: growth\nteam_size: 3   # people\nnetwork:\n    az_count: 3\n"
    with pytest.raises(SpecError, match="not on the key's line"):
        StackFile.read(_write(tmp_path / "Pulumi.x.yaml", "config:\n  mlplatform:profile:\n    growth\n")).set_value(
            "profile", "full")


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


def test_messages_name_the_file_and_the_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = _write(tmp_path / "a.yaml", "network: [\n")
    res = run("diff", "--from", str(bad), "--to", "pragmatic")
    assert res.exit_code == 1 and str(bad) in res.stderr and "--from" in res.stderr
    res = run("diff", "--from", "pragmatic", "--to", str(_write(tmp_path / "p.json", "{}")))
    assert res.exit_code == 1 and "--to" in res.stderr and "p.json is JSON but not a saved plan" in res.stderr
    res = run("upgrade", "--to", "growth", "--dir", str(tmp_path / "missing"))
    assert res.exit_code == 1 and "--dir: no folder" in res.stderr and "--stack-file" not in res.stderr
    _write(tmp_path / "file", "x")
    res = run("plan", "--out", str(tmp_path / "file" / "plan.json"))
    assert res.exit_code == 1 and "is a file" in res.stderr and "does not exist" not in res.stderr
    res = run("plan", "--set", "network.az_count")
    assert res.exit_code == 2 and "is not key=value" in res.stderr
    res = run("upgrade", "--to", "growth", "--json")
    assert res.exit_code == 2 and "--dry-run" in res.stderr
    assert "to read" in run("team", "list", "--help").stdout and "to edit" not in run("team", "list", "--help").stdout
    os.chmod(tmp_path, 0o755)
