"""`mlplatform init` end to end in a temp dir: the files, the same Plan as `mlplatform plan`, refusals."""

from __future__ import annotations

import json
import os
import runpy
import shlex
from importlib import metadata
from pathlib import Path

import boto3
import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.stacks import files
from mlplatform.stacks.config.spec import spec_from_stack_config
from mlplatform.stacks.project.init import InitOptions, init_project
from mlplatform.stacks.plan.offline import run_offline

FILES = [".gitignore", "Pulumi.dev.yaml", "Pulumi.yaml", "README.md", "__main__.py", "requirements.txt"]
ADOPT = ["--set", "network.existing.vpc_id=vpc-0a1b2c3d4e5f60718",
         "--set", "network.existing.private_subnet_ids=[subnet-0aa11bb22cc33dd44, subnet-0ee55ff66aa77bb88]",
         "--set", "cluster.public_access_cidrs=[203.0.113.0/24]", "--set", "tags.team=vision"]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def listing(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def plan_of_project(d: Path, stack: str = "dev") -> dict:
    """Synthesize the rendered __main__.py offline with the rendered stack config."""
    config = yaml.safe_load((d / f"Pulumi.{stack}.yaml").read_text())["config"]
    project = yaml.safe_load((d / "Pulumi.yaml").read_text())["name"]
    plan = run_offline(lambda: runpy.run_path(str(d / "__main__.py"), run_name="__main__"),
                       region=config["aws:region"], profile=config["mlplatform:profile"], project=project,
                       stack=stack, config=config)
    return plan.to_dict()


def plan_command_of(d: Path) -> list[str]:
    """The `mlplatform plan ...` line the rendered README shows."""
    [line] = [x for x in (d / "README.md").read_text().splitlines() if x.startswith("mlplatform plan ")]
    return shlex.split(line)[1:]


def test_init_renders_a_pulumi_project(tmp_path):
    d = tmp_path / "vision"
    res = run("init", str(d), "--team-size", "4", "--region", "eu-west-1", "--github-org", "acme",
              "--non-interactive", *ADOPT)
    assert res.exit_code == 0, res.output
    assert listing(d) == FILES
    assert f"wrote {d / 'Pulumi.yaml'}" in res.stdout

    project = yaml.safe_load((d / "Pulumi.yaml").read_text())
    assert project == {"name": "vision", "description": project["description"],  # the folder's: no collisions
                       "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}},
                       "backend": {"url": "file://.pulumi-state"}}
    stack = yaml.safe_load((d / "Pulumi.dev.yaml").read_text())
    assert "secretsprovider" not in stack  # passphrase
    assert stack["config"] == {
        "aws:region": "eu-west-1", "mlplatform:profile": "pragmatic", "mlplatform:team_size": 4,
        "mlplatform:network": {"existing": {"vpc_id": "vpc-0a1b2c3d4e5f60718",
                                            "private_subnet_ids": ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]}},
        "mlplatform:cluster": {"public_access_cidrs": ["203.0.113.0/24"]},
        "mlplatform:runners": {"github_config_url": "https://github.com/acme"},
        "mlplatform:tags": {"team": "vision"},
    }
    assert (d / "__main__.py").read_text().splitlines() == ["from mlplatform.stacks.program import main", "", "main()"]
    # The released version, never a path on this machine (here: an editable install, so init warns with the fix).
    assert (d / "requirements.txt").read_text() == f"mlplatform=={metadata.version('mlplatform')}\n"
    assert f"| `requirements.txt` | mlplatform, pinned to {metadata.version('mlplatform')} |" in (d / "README.md").read_text()
    assert "file://" not in (d / "requirements.txt").read_text()
    assert "warning: requirements.txt pins mlplatform==" in res.stderr and "git reference" in res.stderr
    ignored = (d / ".gitignore").read_text().splitlines()
    assert "venv/" in ignored and ".pulumi-state/" in ignored
    readme = (d / "README.md").read_text()
    assert readme.index("mlplatform doctor") < readme.index("mlplatform preview") < readme.index("mlplatform up")
    assert all(oct(os.stat(d / f).st_mode)[-3:] == "644" for f in FILES)


@pytest.mark.parametrize("args", [
    [],
    ["--team-size", "4", "--region", "eu-west-1", "--github-org", "acme", *ADOPT],
    ["--profile", "growth", "--stack", "ml-prod", "--region", "us-west-2", "--set", "gpu.pools.0.max=4"],
])
def test_rendered_program_plans_like_mlplatform_plan(tmp_path, args, monkeypatch):
    d = tmp_path / "p"
    assert run("init", str(d), "--non-interactive", *args).exit_code == 0
    stack = next(p.name[len("Pulumi."):-len(".yaml")] for p in d.glob("Pulumi.*.yaml"))
    from_project = plan_of_project(d, stack)
    monkeypatch.chdir(d)  # the README's command runs in the project folder
    cli_plan = run(*plan_command_of(d), "--json")
    assert cli_plan.exit_code == 0, cli_plan.output
    data = json.loads(cli_plan.stdout)
    assert data.pop("source")["file"] == str((d / f"Pulumi.{stack}.yaml").resolve())
    assert data == from_project
    assert len(from_project["resources"]) > 40


def test_stack_file_reads_back_to_the_same_spec(tmp_path):
    result = init_project(InitOptions(directory=tmp_path, profile="full", region="eu-central-1",
                                      sets=("database.multi_az=false",)))
    config = yaml.safe_load((tmp_path / "Pulumi.dev.yaml").read_text())["config"]
    assert spec_from_stack_config(config) == result.spec and result.spec.database.multi_az is False


def test_refuses_to_overwrite_then_force_then_no_op(tmp_path):
    d = tmp_path / "p"
    assert run("init", str(d), "--non-interactive").exit_code == 0
    rendered = {f: (d / f).read_text() for f in FILES}
    (d / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1  # my edit\n")

    res = run("init", str(d), "--non-interactive")
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"error: DIR: {d} already has Pulumi.dev.yaml; pass --force to overwrite them, or choose another folder"]
    assert (d / "Pulumi.dev.yaml").read_text().endswith("# my edit\n") and listing(d) == FILES

    res = run("init", str(d), "--non-interactive", "--force")
    assert res.exit_code == 0 and {f: (d / f).read_text() for f in FILES} == rendered
    assert "unchanged" in res.stdout and f"wrote {d / 'Pulumi.dev.yaml'}" in res.stdout

    before = {f: os.stat(d / f).st_mtime_ns for f in FILES}
    res = run("init", str(d), "--non-interactive")
    assert res.exit_code == 0 and res.stdout.startswith(f"Nothing to do: {d} is up to date (6 files unchanged).")
    assert {f: os.stat(d / f).st_mtime_ns for f in FILES} == before and listing(d) == FILES


def test_missing_files_are_added_without_force(tmp_path):
    assert run("init", str(tmp_path), "--non-interactive").exit_code == 0
    (tmp_path / "README.md").unlink()
    res = run("init", str(tmp_path), "--non-interactive")
    assert res.exit_code == 0 and f"wrote {tmp_path / 'README.md'}" in res.stdout and listing(tmp_path) == FILES


@pytest.mark.parametrize("args,message", [
    (["--region", "moon-1"], "error: region: 'moon-1' is not an AWS region mlplatform knows"),
    (["--stack", "Prod_1"], "error: --stack: 'Prod_1' is not a valid stack name; use 1-20 lowercase letters"),
    (["--set", "network.az_count=9"], "error: network.az_count: input should be less than or equal to 6"),
    (["--set", "netwrk.az_count=2"], "error: netwrk.az_count: unknown key"),
    (["--profile", "enterprise"], "error: profile: unknown profile 'enterprise'"),
    (["--secrets", "kms"], "error: --secrets: kms needs the s3 backend"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    d = tmp_path / "p"
    res = run("init", str(d), "--non-interactive", *args)
    assert res.exit_code == 1 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert not d.exists()


def test_unwritable_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = run("init", str(blocker / "p"), "--non-interactive")
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [f"error: DIR: cannot create {blocker / 'p'}: Not a directory; "
                                               "choose a writable folder"]


def test_read_only_directory(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    if os.geteuid() == 0:  # root writes into read-only folders: have the folder refuse like it would
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    try:
        res = run("init", str(d), "--non-interactive")
    finally:
        d.chmod(0o700)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [f"error: DIR: cannot write in {d}: Permission denied; "
                                               "choose a writable folder"]
    assert listing(d) == []


def test_a_failure_midway_leaves_nothing_half_written(tmp_path, monkeypatch):
    assert run("init", str(tmp_path), "--non-interactive").exit_code == 0
    before = {f: (tmp_path / f).read_text() for f in FILES}
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", flaky_replace)
    res = run("init", str(tmp_path), "--non-interactive", "--force", "--region", "eu-west-1")
    assert res.exit_code == 1 and "cannot write in" in res.stderr and "No space left on device" in res.stderr
    assert [Path(c).name for c in calls] == ["Pulumi.dev.yaml", "README.md"]  # the region is in both
    assert {f: (tmp_path / f).read_text() for f in FILES} == before  # the renamed one was put back
    assert listing(tmp_path) == FILES  # and no temporary file is left


def test_interactive_answers_fill_what_the_flags_leave_open(tmp_path):
    script = iter([
        ("text", "7"),  # team size -> growth
        ("select", "eu-west-1"), ("text", "staging"), ("select", "local"),
        ("confirm", True), ("text", "vpc-0123456789abcdef0"), ("text", "subnet-0aa11bb22cc33dd44, subnet-0ee55ff66aa77bb88"), ("text", ""),
        ("confirm", True), ("text", "platform-eks"),
        ("confirm", True), ("text", "observability"), ("text", "kps"),
        ("text", "acme-ml"),
    ])
    asked = []

    def ask(kind, message, default=None, choices=None):
        want_kind, answer = next(script)
        assert kind == want_kind, message
        asked.append(message)
        return answer

    result = init_project(InitOptions(directory=tmp_path), ask=ask)
    assert next(script, None) is None and len(asked) == 14
    config = yaml.safe_load((tmp_path / "Pulumi.staging.yaml").read_text())["config"]
    assert config["mlplatform:profile"] == "growth" and config["mlplatform:team_size"] == 7
    assert config["mlplatform:network"] == {"existing": {"vpc_id": "vpc-0123456789abcdef0", "private_subnet_ids": [
        "subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]}}
    assert config["mlplatform:cluster"] == {"existing": {"name": "platform-eks"}}
    assert config["mlplatform:monitoring"] == {"existing": {"namespace": "observability", "release": "kps"}}
    assert config["mlplatform:runners"] == {"github_config_url": "https://github.com/acme-ml"}
    assert result.spec.cluster.existing.name == "platform-eks"

    flags_win = init_project(InitOptions(directory=tmp_path / "b", profile="full", region="us-east-2", stack="x",
                                         backend="local", existing_vpc={}, existing_cluster="", existing_monitoring={},
                                         github_org=""),
                             ask=lambda *a, **k: pytest.fail("nothing left to ask"))
    assert flags_win.spec.profile == "full"


def test_s3_backend_end_to_end_on_moto(aws, tmp_path):
    d = tmp_path / "p"
    res = run("init", str(d), "--backend", "s3", "--region", "eu-west-1", "--non-interactive")
    assert res.exit_code == 0, res.output
    assert "state backend: created KMS key alias/mlplatform-state" in res.stdout
    assert yaml.safe_load((d / "Pulumi.yaml").read_text())["backend"] == {
        "url": "s3://mlplatform-state-123456789012-eu-west-1?region=eu-west-1"}
    stack = yaml.safe_load((d / "Pulumi.dev.yaml").read_text())
    assert stack["secretsprovider"] == "awskms://alias/mlplatform-state?region=eu-west-1"
    assert ".pulumi-state/" not in (d / ".gitignore").read_text()
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert s3.get_bucket_versioning(Bucket="mlplatform-state-123456789012-eu-west-1")["Status"] == "Enabled"

    again = run("init", str(d), "--backend", "s3", "--region", "eu-west-1", "--non-interactive")
    assert again.exit_code == 0 and again.stdout.startswith("Nothing to do")


def test_s3_backend_refused_by_preflight_creates_nothing(aws, tmp_path):
    d = tmp_path / "p"
    res = run("init", str(d), "--backend", "s3", "--region", "us-west-1", "--non-interactive")
    assert res.exit_code == 1
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("error: gpu pool gpu: no instance type is offered in 2 of us-west-1a, us-west-1b")
    assert not d.exists()
    assert boto3.client("s3", region_name="us-west-1").list_buckets()["Buckets"] == []


@pytest.mark.parametrize("direct_url,line,pinned,warns", [
    (None, "mlplatform==0.1.0", "0.1.0", False),  # from an index: the release
    ('{"url": "file:///home/me/mlplatform", "dir_info": {"editable": true}}', "mlplatform==0.1.0", "0.1.0", True),
    ('{"url": "file:///tmp/mlplatform-0.1.0.tar.gz", "archive_info": {}}', "mlplatform==0.1.0", "0.1.0", True),
    ('{"url": "https://github.com/acme/mlplatform", "vcs_info": {"vcs": "git", "commit_id": "' + "a" * 40 + '", '
     '"requested_revision": "main"}}', "mlplatform @ git+https://github.com/acme/mlplatform@" + "a" * 40,
     "https://github.com/acme/mlplatform@" + "a" * 40, False),
])
def test_requirement_is_installable_elsewhere(direct_url, line, pinned, warns):
    """Issue 25: a local path in requirements.txt cannot be installed by a teammate or CI."""
    from mlplatform.stacks.project.init import requirement_of

    req = requirement_of("0.1.0", direct_url)
    assert (req.line, req.pinned_to, req.warning is not None) == (line, pinned, warns)
    assert "file://" not in req.line
    if warns:
        assert req.warning.startswith("requirements.txt pins mlplatform==0.1.0, but this mlplatform was installed "
                                      "from the local folder file://")


def test_project_name_is_the_folders_and_plan_uses_it(tmp_path, monkeypatch):
    """Two projects in one backend must not share `name: mlplatform`; `plan` makes the URNs the engine will."""
    d = tmp_path / "Vision Team"
    assert run("init", str(d), "--profile", "pragmatic", "--non-interactive").exit_code == 0
    assert yaml.safe_load((d / "Pulumi.yaml").read_text())["name"] == "Vision-Team"
    monkeypatch.chdir(d)
    urns = [r["urn"] for r in json.loads(run("plan", "--json").stdout)["resources"]]
    assert urns and all(u.startswith("urn:pulumi:dev::Vision-Team::") for u in urns)
    assert sorted(r["urn"] for r in plan_of_project(d)["resources"]) == sorted(urns)  # what the program makes
