"""Generated GitHub Actions workflows: valid, pinned, least privilege, zizmor-clean, schema-valid."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.components.ci_runners import scale_set_names
from mlplatform.components.metadata_store import in_cluster_url
from mlplatform.components.versions import GITHUB_ACTIONS, MLFLOW_CLIENT
from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec
from mlplatform.stacks.project.ci import (APPROVAL_ENVIRONMENT, DEPLOY_ENVIRONMENT, PREVIEW_ENVIRONMENT, TEMPLATES,
                                         WorkflowOptions, render_workflows, write_workflows)

BIN = Path(sys.executable).parent
VARIANTS = [(p, s) for p in PROFILES for s in ("kms", "passphrase")]


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is missing: install the test extra (pip install -e '.[test]')"
    return path


def load(text: str) -> dict:
    data = yaml.safe_load(text)
    # YAML 1.1 reads the `on:` key as True; GitHub reads it as "on".
    return {("on" if k is True else k): v for k, v in data.items()}


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], dict[str, str]]:
    return {(p, s): render_workflows(load_spec(p), WorkflowOptions(secrets=s, project_dir="." if s == "kms" else "infra"))
            for p, s in VARIANTS}


@pytest.fixture(scope="module")
def written(rendered, tmp_path_factory) -> list[Path]:
    paths = []
    for (p, s), files in rendered.items():
        out = tmp_path_factory.mktemp(f"{p}-{s}") / ".github" / "workflows"
        write_workflows(files, out)
        paths += sorted(out.glob("*.yml"))
    return paths


def steps(job: dict) -> list[dict]:
    return job["steps"]


def run_blocks(wf: dict) -> list[str]:
    return [s["run"] for job in wf["jobs"].values() for s in steps(job) if "run" in s]


# -- every template, every profile ---------------------------------------------------------------
def test_every_template_renders_for_every_profile_as_valid_yaml(rendered):
    for (profile, _), files in rendered.items():
        assert set(files) == set(TEMPLATES) == {"platform.yml", "train-evaluate.yml"}
        for name, text in files.items():
            wf = load(text)
            assert wf["name"] == name.removesuffix(".yml") and wf["jobs"], (profile, name)
            assert f"({profile}, us-east-1)" in text.splitlines()[0]
            assert "[[" not in text and "[%" not in text  # no template syntax left over


def test_workflows_pass_zizmor_with_no_finding_at_medium_or_above(written):
    result = subprocess.run([tool("zizmor"), "--offline", "--no-config", "--format", "json", "--min-severity", "medium",
                             *map(str, written)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []
    assert len(written) == 2 * len(VARIANTS)


def test_zizmor_does_find_problems_in_a_bad_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: pull_request\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@v4\n"
                   "      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    result = subprocess.run([tool("zizmor"), "--offline", "--no-config", "--format", "json", "--min-severity", "medium",
                             str(bad)], capture_output=True, text=True, timeout=120)
    found = {f["ident"] for f in json.loads(result.stdout)}
    assert {"template-injection", "unpinned-uses", "artipacked"} <= found


def test_workflows_validate_against_the_github_workflow_schema(written, tmp_path):
    check = [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*check, *map(str, written)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  build:\n    steps:\n      - run: true\n    timeout-minutes: soon\n")
    assert subprocess.run([*check, str(bad)], capture_output=True, text=True, timeout=120).returncode != 0


# -- pinned actions, least permissions, no secrets in logs ---------------------------------------
def test_every_action_is_pinned_by_full_commit_sha_from_the_versions_table(rendered):
    for tag, sha in GITHUB_ACTIONS.values():
        assert re.fullmatch(r"[0-9a-f]{40}", sha) and re.fullmatch(r"v\d+\.\d+\.\d+", tag)
    used = set()
    for files in rendered.values():
        for text in files.values():
            for line in text.splitlines():
                m = re.search(r"uses: (\S+)@(\S+) # (\S+)$", line)
                if "uses:" in line:
                    assert m, f"unpinned or uncommented: {line.strip()}"
                    action, sha, tag = m.groups()
                    assert GITHUB_ACTIONS[action] == (tag, sha)
                    used.add(action)
    assert used == set(GITHUB_ACTIONS)


def test_permissions_start_empty_and_each_job_asks_only_what_it_uses(rendered):
    allowed = {
        ("platform", "preview"): {"contents": "read", "id-token": "write", "pull-requests": "write"},
        ("platform", "up"): {"contents": "read", "id-token": "write"},
        ("train-evaluate", "train"): {"contents": "read"},
        ("train-evaluate", "promote"): {},
    }
    for files in rendered.values():
        for name, text in files.items():
            wf = load(text)
            assert wf["permissions"] == {}
            for job_name, job in wf["jobs"].items():
                assert job["permissions"] == allowed[(wf["name"], job_name)], (name, job_name)


def test_no_expression_is_expanded_into_a_script_and_secrets_only_reach_env(rendered):
    for (_, secrets), files in rendered.items():
        for text in files.values():
            wf = load(text)
            for script in run_blocks(wf):
                assert "${{" not in script
            secret_refs = re.findall(r"secrets\.[A-Z_]+", text)
            if secrets == "kms":
                assert secret_refs == []
            else:
                assert set(secret_refs) <= {"secrets.PULUMI_CONFIG_PASSPHRASE"}
                for job in wf["jobs"].values():
                    for s in steps(job):
                        if "PULUMI_CONFIG_PASSPHRASE" in json.dumps(s):
                            assert s["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
                            assert "environment" in job  # an environment secret, scoped to the job
            for job in wf["jobs"].values():
                for s in steps(job):
                    if s.get("uses", "").startswith("actions/checkout@"):
                        assert s["with"]["persist-credentials"] is False


def test_inline_python_compiles_and_shell_scripts_parse(rendered):
    files = rendered[("full", "passphrase")]
    bodies = 0
    for text in files.values():
        for script in run_blocks(load(text)):
            for body in re.findall(r"<<'PY'\n(.*?)\nPY(?:\n|$)", script, re.S):
                compile(body, "<workflow>", "exec")
                bodies += 1
            result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
            assert result.returncode == 0, result.stderr + script
    assert bodies == 6


# -- platform.yml ----------------------------------------------------------------------------------
def test_platform_previews_pull_requests_and_deploys_main_behind_an_environment(rendered):
    wf = load(rendered[("growth", "kms")]["platform.yml"])
    assert set(wf["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert wf["on"]["push"]["branches"] == ["main"]
    preview, up = wf["jobs"]["preview"], wf["jobs"]["up"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert preview["environment"] == PREVIEW_ENVIRONMENT
    preview_runs = "\n".join(s.get("run", "") for s in steps(preview))
    assert 'mlplatform preview --dir . --stack "$STACK"' in preview_runs
    assert "mlplatform diff --from" in preview_runs and "gh pr comment" in preview_runs
    assert up["environment"] == DEPLOY_ENVIRONMENT and up["if"].endswith("github.ref == 'refs/heads/main'")
    assert up["concurrency"]["cancel-in-progress"] is False
    assert 'mlplatform up --dir . --stack "$STACK" --yes' in steps(up)[-1]["run"]
    roles = [s["with"]["role-to-assume"] for job in (preview, up) for s in steps(job) if "role-to-assume" in s.get("with", {})]
    assert roles == ["${{ vars.MLPLATFORM_PREVIEW_ROLE_ARN }}", "${{ vars.MLPLATFORM_DEPLOY_ROLE_ARN }}"]
    assert all(job["runs-on"] == "ubuntu-24.04" for job in (preview, up))  # not on the runners `up` may replace


def test_platform_in_a_subfolder_runs_there_and_watches_it(rendered):
    wf = load(rendered[("pragmatic", "passphrase")]["platform.yml"])
    assert wf["on"]["pull_request"]["paths"] == ["infra/**", ".github/workflows/platform.yml"]
    assert wf["jobs"]["up"]["defaults"]["run"]["working-directory"] == "infra"
    diff = next(s for s in steps(wf["jobs"]["preview"]) if s["name"].startswith("Cost delta"))
    assert diff["env"]["BASE"].endswith("/.mlplatform-base/infra/")


# -- train-evaluate.yml ----------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_train_evaluate_trains_on_the_gpu_scale_set_and_publishes_from_the_cpu_one(rendered, profile):
    spec = load_spec(profile)
    wf = load(rendered[(profile, "kms")]["train-evaluate.yml"])
    labels = scale_set_names("ml-dev")
    assert wf["jobs"]["train"]["runs-on"] == labels["gpu"] == "ml-dev-gpu"
    assert wf["jobs"]["promote"]["runs-on"] == labels["cpu"]
    assert wf["on"]["schedule"] == [{"cron": spec.retraining.schedule}]
    assert wf["on"]["push"]["paths"] == ["data/**", "training/**"] and "workflow_dispatch" in wf["on"]
    assert wf["env"]["MLFLOW_TRACKING_URI"] == in_cluster_url() and wf["env"]["MLFLOW_VERSION"] == MLFLOW_CLIENT
    assert wf["jobs"]["promote"]["env"]["MODELS_REPOSITORY"] == "mlplatform/dev/models"


def test_runs_on_labels_are_the_stacks_runner_scale_sets():
    from mlplatform.stacks.program import plan

    spec = load_spec("pragmatic")
    wf = load(render_workflows(spec, WorkflowOptions(stack="dev"))["train-evaluate.yml"])
    labels = plan(spec, stack="dev").outputs["runner_labels"]
    assert (wf["jobs"]["train"]["runs-on"], wf["jobs"]["promote"]["runs-on"]) == (labels["gpu"], labels["cpu"])
    other = load(render_workflows(spec, WorkflowOptions(stack="prod"))["train-evaluate.yml"])
    assert other["jobs"]["train"]["runs-on"] == "ml-prod-gpu"


def test_train_evaluate_compares_waits_for_approval_then_pushes_and_tags(rendered):
    wf = load(rendered[("full", "kms")]["train-evaluate.yml"])
    train, promote = wf["jobs"]["train"], wf["jobs"]["promote"]
    assert train["timeout-minutes"] == 360
    names = [s["name"] for s in steps(train)]
    assert names.index("Start the MLflow run") < names.index("Train") < names.index("Compare the candidate with production")
    compare = next(s for s in steps(train) if s.get("id") == "compare")["run"]
    assert 'get_model_version_by_alias(name, "production")' in compare and "GITHUB_STEP_SUMMARY" in compare
    assert train["outputs"]["promote"] == "${{ steps.compare.outputs.promote }}"
    assert promote["needs"] == "train" and promote["if"] == "needs.train.outputs.promote == 'true'"
    assert promote["environment"] == APPROVAL_ENVIRONMENT == "model-promotion"
    runs = "\n".join(s.get("run", "") for s in steps(promote))
    assert 'oras push "$REPOSITORY:$tag"' in runs and 'oras tag "$REPOSITORY:$OCI_TAG" "$MODEL_NAME-v$version"' in runs
    assert "--password-stdin" in runs and 'set_registered_model_alias(os.environ["MODEL_NAME"], "production"' in runs
    assert any(s.get("uses", "").startswith("oras-project/setup-oras@") for s in steps(promote))


def test_options_reach_the_workflow():
    spec = load_spec("growth", sets=["registry.existing.repository_urls.models="
                                     "210987654321.dkr.ecr.eu-west-1.amazonaws.com/shared/models"])
    o = WorkflowOptions(model_name="churn", metric="auc", greater_is_better=True, train_command="make train",
                        data_paths=["datasets/**"], branch="release")
    wf = load(render_workflows(spec, o)["train-evaluate.yml"])
    assert (wf["env"]["MODEL_NAME"], wf["env"]["METRIC"], wf["env"]["GREATER_IS_BETTER"]) == ("churn", "auc", "true")
    assert wf["on"]["push"] == {"branches": ["release"], "paths": ["datasets/**"]}
    assert next(s for s in steps(wf["jobs"]["train"]) if s["name"] == "Train")["run"] == "make train"
    assert wf["jobs"]["promote"]["env"]["MODELS_REPOSITORY"] == "210987654321.dkr.ecr.eu-west-1.amazonaws.com/shared/models"


def test_without_gpus_training_runs_on_the_cpu_scale_set():
    spec = load_spec("pragmatic", sets=["gpu.pools=[]"])
    wf = load(render_workflows(spec)["train-evaluate.yml"])
    assert wf["jobs"]["train"]["runs-on"] == "ml-dev-cpu"


def test_runners_off_renders_only_the_platform_workflow():
    assert set(render_workflows(load_spec("pragmatic", sets=["runners.enabled=false"]))) == {"platform.yml"}


@pytest.mark.parametrize("options, message", [
    (WorkflowOptions(model_name="my model"), "--model-name: 'my model' cannot go into a workflow"),
    (WorkflowOptions(train_command="python train.py ${{ github.event.head_commit.message }}"),
     "--train-command: 'python train.py ${{ github.event.head_commit.message }}' is not one command line"),
    (WorkflowOptions(train_command="a\nb"), "--train-command: 'a\\nb' is not one command line"),
    (WorkflowOptions(data_paths=["../secrets/**"]), "--data-path: '../secrets/**' leaves the repository"),
    (WorkflowOptions(data_paths=[]), "--data-path: no path given"),
    (WorkflowOptions(stack="Prod"), "--stack: 'Prod' cannot go into a workflow"),
    (WorkflowOptions(metric="val loss; rm"), "--metric: 'val loss; rm' cannot go into a workflow"),
])
def test_bad_options_are_refused_with_one_line(options, message):
    with pytest.raises(SpecError) as e:
        render_workflows(load_spec("pragmatic"), options)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_stack_without_a_models_repository_is_refused():
    with pytest.raises(SpecError, match=r"^registry\.repositories: has no 'models' repository"):
        render_workflows(load_spec("pragmatic", sets=["registry.repositories=[images]"]))


# -- writing -----------------------------------------------------------------------------------------
def test_write_refuses_to_overwrite_without_force_and_skips_identical_files(tmp_path):
    out = tmp_path / ".github" / "workflows"
    small, big = render_workflows(load_spec("pragmatic")), render_workflows(load_spec("full"))
    written, unchanged = write_workflows(small, out)
    assert [p.name for p in written] == ["platform.yml", "train-evaluate.yml"] and unchanged == []
    assert write_workflows(small, out) == ([], [out / "platform.yml", out / "train-evaluate.yml"])
    with pytest.raises(SpecError, match=r"^--out: .*platform\.yml, .*train-evaluate\.yml already exist with other "
                                        r"content; pass --force"):
        write_workflows(big, out)
    assert (out / "platform.yml").read_text() == small["platform.yml"]  # nothing was written
    write_workflows(big, out, force=True)
    assert (out / "train-evaluate.yml").read_text() == big["train-evaluate.yml"]
    assert sorted(p.name for p in out.iterdir()) == ["platform.yml", "train-evaluate.yml"]  # no temporary files


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "wf"
    (out / "platform.yml").mkdir(parents=True)  # the first rename fails
    with pytest.raises(SpecError, match=r"^--out: cannot write in"):
        write_workflows(render_workflows(load_spec("pragmatic")), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["platform.yml"]


def test_cli_ci_render_writes_refuses_and_forces(tmp_path):
    out = tmp_path / "wf"
    runner = CliRunner()
    first = runner.invoke(cli, ["ci", "render", "--profile", "growth", "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert f"wrote {out / 'platform.yml'}" in first.output and f"wrote {out / 'train-evaluate.yml'}" in first.output
    again = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out)])
    assert again.exit_code == 1 and "pass --force" in again.output
    forced = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out), "--force", "--json"])
    assert forced.exit_code == 0 and len(json.loads(forced.output)["written"]) == 2
    assert "(full, us-east-1)" in (out / "train-evaluate.yml").read_text()
    bad = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out), "--model-name", "a b"])
    assert bad.exit_code == 1 and "--model-name" in bad.output
