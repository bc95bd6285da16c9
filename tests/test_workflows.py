"""Generated GitHub Actions workflows: valid, pinned, least privilege, zizmor-clean, schema-valid."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mlplatform.cli.main import cli
from mlplatform.components.ci_runners import scale_set_names
from mlplatform.components.metadata_store import in_cluster_url
from mlplatform.components.versions import GITHUB_ACTIONS, MLFLOW_CLIENT, MODELCAR_BASE_IMAGE
from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec
from mlplatform.stacks.project.ci import (APPROVAL_ENVIRONMENT, CODEOWNERS_MARK, DEPLOY_ENVIRONMENT, PREVIEW_ENVIRONMENT,
                                         TEMPLATES, WorkflowOptions, codeowners_text, render_workflows, write_workflows)

BIN = Path(sys.executable).parent
OWNERS = ["@acme/ml-leads"]
# every profile x both ways of keeping the stack's secrets x both approval modes
VARIANTS = [(p, s, a) for p in PROFILES for s in ("kms", "passphrase") for a in ("pull-request", "environment")]
ML_WORKFLOWS = {"pull-request": {"train-evaluate.yml", "model-publish.yml", "model-review.yml"},
                "environment": {"train-evaluate.yml", "model-review.yml"}}


def options(**kw) -> WorkflowOptions:
    return WorkflowOptions(**{"model_owners": OWNERS, **kw})


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert path, f"{name} is missing: install the test extra (pip install -e '.[test]')"
    return path


def load(text: str) -> dict:
    data = yaml.safe_load(text)
    # YAML 1.1 reads the `on:` key as True; GitHub reads it as "on".
    return {("on" if k is True else k): v for k, v in data.items()}


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str, str], dict[str, str]]:
    return {(p, s, a): render_workflows(load_spec(p), options(secrets=s, approval=a,
                                                              project_dir="." if s == "kms" else "infra"))
            for p, s, a in VARIANTS}


@pytest.fixture(scope="module")
def written(rendered, tmp_path_factory) -> list[Path]:
    paths = []
    for (p, s, a), files in rendered.items():
        out = tmp_path_factory.mktemp(f"{p}-{s}-{a}") / ".github" / "workflows"
        write_workflows(files, out)
        paths += sorted(out.glob("*.yml"))
    return paths


def steps(job: dict) -> list[dict]:
    return job["steps"]


def run_blocks(wf: dict) -> list[str]:
    return [s["run"] for job in wf["jobs"].values() for s in steps(job) if "run" in s]


def scripts(wf: dict) -> list[str]:
    """The JavaScript of every actions/github-script step."""
    return [s["with"]["script"] for job in wf["jobs"].values() for s in steps(job)
            if s.get("uses", "").startswith("actions/github-script@")]


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


# -- every template, every profile ---------------------------------------------------------------
def test_every_template_renders_for_every_profile_as_valid_yaml(rendered):
    assert set(TEMPLATES) == {"platform.yml", "train-evaluate.yml", "model-publish.yml", "model-review.yml",
                              "platform-images.yml"}
    for (profile, _, approval), files in rendered.items():
        assert set(files) == {"platform.yml", "platform-images.yml"} | ML_WORKFLOWS[approval]
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
    assert len(written) == sum(2 + len(ML_WORKFLOWS[a]) for _, _, a in VARIANTS)


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
        ("platform-images", "build"): {"contents": "read", "id-token": "write"},
        ("train-evaluate", "train"): {"contents": "read"},
        ("train-evaluate", "candidate"): {"contents": "read"},
        ("train-evaluate", "release"): {"contents": "write", "pull-requests": "write"},  # hosted, API calls only
        ("train-evaluate", "promote"): {"contents": "read", "actions": "read"},
        ("model-publish", "publish"): {"contents": "read", "pull-requests": "read"},
        ("model-review", "open"): {"contents": "read", "issues": "write"},
        ("model-review", "record"): {"contents": "read", "issues": "read"},
    }
    seen = set()
    for files in rendered.values():
        for name, text in files.items():
            wf = load(text)
            assert wf["permissions"] == {}
            for job_name, job in wf["jobs"].items():
                assert job["permissions"] == allowed[(wf["name"], job_name)], (name, job_name)
                seen.add((wf["name"], job_name))
    assert seen == set(allowed)


def test_no_expression_is_expanded_into_a_script_and_secrets_only_reach_env(rendered):
    for (_, secrets, _), files in rendered.items():
        for text in files.values():
            wf = load(text)
            for script in run_blocks(wf) + scripts(wf):
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


def test_inline_python_compiles_and_imports_what_exists_and_shell_scripts_parse(rendered):
    import importlib

    bodies = 0
    for key in (("full", "passphrase", "pull-request"), ("growth", "kms", "environment")):
        for text in rendered[key].values():
            for script in run_blocks(load(text)):
                for body in re.findall(r"<<'PY'\n(.*?)\nPY(?:\n|$)", script, re.S):
                    compile(body, "<workflow>", "exec")
                    bodies += 1
                    for module, names in re.findall(r"^from (mlplatform\.\S+) import (.+)$", body, re.M):
                        for n in names.split(","):  # the mlplatform functions the workflow calls exist
                            assert hasattr(importlib.import_module(module), n.strip()), (module, n)
                result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=30)
                assert result.returncode == 0, result.stderr + script
    assert bodies == 23  # + the modelcar build (train-evaluate), the roll-out step (model-publish, promote),
    # the image build (platform-images)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: github-script bodies not parsed")
def test_github_script_bodies_are_valid_javascript(rendered, tmp_path):
    n = 0
    for key in (("pragmatic", "kms", "pull-request"), ("pragmatic", "kms", "environment")):
        for name, text in rendered[key].items():
            for i, script in enumerate(scripts(load(text))):
                f = tmp_path / f"{name}-{i}.js"
                f.write_text(f"(async function ({{ github, context, core, require }}) {{\n{script}\n}});\n")
                result = subprocess.run(["node", "--check", str(f)], capture_output=True, text=True, timeout=60)
                assert result.returncode == 0, result.stderr
                n += 1
    assert n == 7  # publish 2 + review 2 (pull-request), promote 1 + review 2 (environment)


# -- platform.yml ----------------------------------------------------------------------------------
def test_platform_previews_pull_requests_and_deploys_main_behind_an_environment(rendered):
    wf = load(rendered[("growth", "kms", "pull-request")]["platform.yml"])
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
    wf = load(rendered[("pragmatic", "passphrase", "pull-request")]["platform.yml"])
    assert wf["on"]["pull_request"]["paths"] == ["infra/**", ".github/workflows/platform.yml"]
    assert wf["jobs"]["up"]["defaults"]["run"]["working-directory"] == "infra"
    diff = next(s for s in steps(wf["jobs"]["preview"]) if s["name"].startswith("Cost delta"))
    assert diff["env"]["BASE"].endswith("/.mlplatform-base/infra/")


# -- train-evaluate.yml ----------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_train_evaluate_trains_on_the_gpu_scale_set_and_publishes_from_the_cpu_one(rendered, profile):
    spec = load_spec(profile)
    wf = load(rendered[(profile, "kms", "environment")]["train-evaluate.yml"])
    labels = scale_set_names("ml-dev")
    assert wf["jobs"]["train"]["runs-on"] == labels["gpu"] == "ml-dev-gpu"
    assert wf["jobs"]["candidate"]["runs-on"] == wf["jobs"]["promote"]["runs-on"] == labels["cpu"]
    assert wf["on"]["schedule"] == [{"cron": spec.retraining.schedule}]
    assert wf["on"]["push"]["paths"] == ["data/**", "training/**"] and "workflow_dispatch" in wf["on"]
    assert wf["env"]["MLFLOW_TRACKING_URI"] == in_cluster_url() and wf["env"]["MLFLOW_VERSION"] == MLFLOW_CLIENT
    assert wf["env"]["STACK"] == "dev"
    assert wf["jobs"]["candidate"]["env"]["MODELS_REPOSITORY"] == "mlplatform/dev/models"
    assert wf["jobs"]["promote"]["env"]["MODELS_REPOSITORY"] == "mlplatform/dev/models"


def test_runs_on_labels_are_the_stacks_runner_scale_sets():
    from mlplatform.stacks.program import plan

    spec = load_spec("pragmatic")
    files = render_workflows(spec, options(stack="dev"))
    labels = plan(spec, stack="dev").outputs["runner_labels"]
    wf = load(files["train-evaluate.yml"])
    assert (wf["jobs"]["train"]["runs-on"], wf["jobs"]["candidate"]["runs-on"]) == (labels["gpu"], labels["cpu"])
    assert load(files["model-publish.yml"])["jobs"]["publish"]["runs-on"] == labels["cpu"]
    assert {j["runs-on"] for j in load(files["model-review.yml"])["jobs"].values()} == {labels["cpu"]}
    other = render_workflows(spec, options(stack="prod"))
    assert load(other["train-evaluate.yml"])["jobs"]["train"]["runs-on"] == "ml-prod-gpu"
    for name, text in other.items():
        assert load(text)["env"]["STACK"] == "prod", name
    assert load(other["model-publish.yml"])["concurrency"]["group"] == "model-publish-prod"


def test_train_evaluate_trains_compares_pushes_the_candidate_and_records_its_evidence(rendered):
    wf = load(rendered[("full", "kms", "pull-request")]["train-evaluate.yml"])
    train, candidate = wf["jobs"]["train"], wf["jobs"]["candidate"]
    assert train["timeout-minutes"] == 360
    names = [s["name"] for s in steps(train)]
    assert names.index("Start the MLflow run") < names.index("Train") < names.index("Compare the candidate with production")
    compare = next(s for s in steps(train) if s.get("id") == "compare")["run"]
    assert 'get_model_version_by_alias(name, "production")' in compare and "GITHUB_STEP_SUMMARY" in compare
    assert '"comparison.json"' in compare  # what the candidate job reads back
    assert train["outputs"]["promote"] == "${{ steps.compare.outputs.promote }}"
    assert candidate["needs"] == "train" and "if" not in candidate  # every trained candidate gets its evidence
    text = runs(candidate)
    # the candidate is a modelcar image (the model under /models on the pinned base), pushed and checked by digest
    assert 'oras cp --from-oci-layout "$layout:$tag" "$REPOSITORY:$tag"' in text and "--password-stdin" in text
    assert 'oras cp --platform linux/amd64 --to-oci-layout "$MODELCAR_BASE"' in text
    assert "add_models_layer(" in text and 'echo "digest=$digest"' in text
    push = next(s for s in steps(candidate) if s.get("id") == "push")
    assert push["env"]["MODELCAR_BASE"] == MODELCAR_BASE_IMAGE
    record = next(s for s in steps(candidate) if s.get("id") == "record")["run"]
    assert '["mlplatform", "evidence", "record", kind, "--model", model, "--digest", digest' in record
    assert record.index('record("provenance"') < record.index('record("evaluation"') < record.index("register_model(")
    # the logged model (models:/m-<id>), not create_model_version of runs:/<run>/model, which MLflow 3 cannot load
    assert 'os.environ["MODEL_URI"], model' in record and "create_model_version(" not in record
    assert '"oci.digest": digest' in record  # the version remembers the artifact it was reviewed as
    assert candidate["env"]["MLPLATFORM_LEDGER"] == "${{ vars.MLPLATFORM_LEDGER }}"
    assert candidate["env"]["MLPLATFORM_LEDGER_KEY"] == "${{ vars.MLPLATFORM_LEDGER_KEY }}"
    assert "MLPLATFORM_LEDGER" not in wf["env"] and "MLPLATFORM_LEDGER" not in json.dumps(train)  # not the training
    for name in ("model-publish.yml", "model-review.yml"):
        assert load(rendered[("full", "kms", "pull-request")][name])["env"]["MLPLATFORM_LEDGER"] == \
            "${{ vars.MLPLATFORM_LEDGER }}"
    env_mode = load(rendered[("full", "kms", "environment")]["train-evaluate.yml"])["jobs"]["promote"]["env"]
    assert env_mode["MLPLATFORM_LEDGER_KEY"] == "${{ vars.MLPLATFORM_LEDGER_KEY }}"


def test_pull_request_mode_opens_the_release_pr_and_nothing_in_train_evaluate_publishes(rendered):
    for profile in PROFILES:
        text = rendered[(profile, "kms", "pull-request")]["train-evaluate.yml"]
        wf = load(text)
        assert set(wf["jobs"]) == {"train", "candidate", "release"}
        assert not any("environment" in job for job in wf["jobs"].values())
        for forbidden in ("set_registered_model_alias", 'record("approval"', "evidence record approval",
                          "evidence record deployment", "oras tag"):
            assert forbidden not in text, forbidden
    release = load(rendered[("growth", "kms", "pull-request")]["train-evaluate.yml"])["jobs"]["release"]
    assert release["needs"] == ["train", "candidate"] and release["if"] == "needs.train.outputs.promote == 'true'"
    assert release["runs-on"] == "ubuntu-24.04"  # no code checked out or run next to contents: write
    assert not any("uses" in s for s in steps(release))
    step = steps(release)[0]
    assert step["env"]["RELEASE_FILE"] == "models/model/release.yaml"
    assert step["env"]["HEAD_BRANCH"] == "mlplatform/release/model" and step["env"]["BASE"] == "main"
    assert step["env"]["RELEASE_B64"] == "${{ needs.candidate.outputs.release }}"
    for call in ('gh api -X PUT "repos/$repo/contents/$RELEASE_FILE"', 'gh pr create --repo "$repo" --head "$HEAD_BRANCH"',
                 'gh pr edit "$number"', '-F force=true'):
        assert call in step["run"], call


def test_environment_mode_waits_in_the_environment_then_publishes_with_evidence(rendered):
    wf = load(rendered[("full", "kms", "environment")]["train-evaluate.yml"])
    promote = wf["jobs"]["promote"]
    assert promote["needs"] == ["train", "candidate"] and promote["if"] == "needs.train.outputs.promote == 'true'"
    assert promote["environment"] == APPROVAL_ENVIRONMENT == "model-promotion"
    assert "getReviewsForRun" in scripts(wf)[0]
    text = runs(promote)
    assert 'mlplatform ci evidence-predicate approval --approvals "$RUNNER_TEMP/approvals.json"' in text
    _check_publish_step(text)


def _check_publish_step(text: str) -> None:
    """Tag, approval, then each environment's rollout and its record, then the alias: the alias moves and a
    deployment is recorded only after the canary completed (`serve record` writes it)."""
    order = ['run("oras", "tag", f"{repository}@{digest}", tag)', 'record("approval", model, digest',
             '"mlplatform", "serve", "apply"', '"mlplatform", "serve", "record"',
             'client.set_registered_model_alias(model, "production", version)']
    where = [text.index(s) for s in order]
    assert where == sorted(where), where
    assert 'record("deployment"' not in text  # the deployment comes from the finished rollout only
    assert 'registered.tags.get("oci.digest") != digest' in text  # only the reviewed artifact is published


def test_without_serving_publishing_moves_the_alias_and_records_the_deployment_at_once():
    wf = load(render_workflows(load_spec("pragmatic", sets=["serving.enabled=false"]), options())["model-publish.yml"])
    text = runs(wf["jobs"]["publish"])
    order = ['record("approval", model, digest', 'client.set_registered_model_alias(model, "production", version)',
             'record("deployment", model, digest']
    where = [text.index(s) for s in order]
    assert where == sorted(where) and "serve apply" not in text


# -- model-publish.yml: the promote job cannot run before the release file is merged ---------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_publish_runs_only_on_a_merge_of_release_files_into_the_default_branch(rendered, profile):
    wf = load(rendered[(profile, "passphrase", "pull-request")]["model-publish.yml"])
    assert wf["on"] == {"push": {"branches": ["main"], "paths": ["models/*/release.yaml"]}}  # no dispatch, no PR
    publish = wf["jobs"]["publish"]
    assert set(wf["jobs"]) == {"publish"} and "needs" not in publish
    assert publish["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    text = runs(publish)
    order = ['mlplatform ci merged-pull --pulls "$RUNNER_TEMP/pulls.json" --sha "$GITHUB_SHA" --base "$BRANCH"',
             'mlplatform ci evidence-predicate approval --pull "$RUNNER_TEMP/pull.json" --reviews "$RUNNER_TEMP/reviews.json"',
             'mlplatform ci released-models --files "$RUNNER_TEMP/files.json"', "read_release(",
             'record("approval", model, digest']
    where = [text.index(s) for s in order]
    assert where == sorted(where)
    assert "set -euo pipefail" in text  # a refusal (exit 3) stops the job before anything is published
    _check_publish_step(text)
    js = "\n".join(scripts(wf))
    assert "listPullRequestsAssociatedWithCommit" in js and "pulls.listReviews" in js and "github.paginate" in js
    assert wf["env"]["BRANCH"] == "main"


def test_publish_follows_the_deploy_branch():
    wf = load(render_workflows(load_spec("growth"), options(branch="release"))["model-publish.yml"])
    assert wf["on"]["push"]["branches"] == ["release"]
    assert wf["jobs"]["publish"]["if"].endswith("github.ref == 'refs/heads/release'")


# -- model-review.yml ------------------------------------------------------------------------------
def test_model_review_opens_issues_on_the_review_schedule_and_records_closed_ones(rendered):
    spec = load_spec("growth", sets=["review.schedule=0 8 * * 1", "review.due_days=7"])
    wf = load(render_workflows(spec, options())["model-review.yml"])
    assert wf["on"] == {"schedule": [{"cron": "0 8 * * 1"}], "workflow_dispatch": None, "issues": {"types": ["closed"]}}
    open_, record = wf["jobs"]["open"], wf["jobs"]["record"]
    assert open_["if"] == "github.event_name != 'issues'"
    assert record["if"] == "github.event_name == 'issues' && contains(github.event.issue.labels.*.name, 'model-review')"
    assert (open_["env"]["REVIEW_DUE_DAYS"], open_["env"]["REVIEW_PERIOD_DAYS"]) == ("7", "7")  # weekly
    assert open_["env"]["PROMETHEUS_URL"] == ("${{ vars.MLPLATFORM_PROMETHEUS_URL || "
                                              "'http://ml-dev-monitoring-prometheus.monitoring.svc.cluster.local:9090' }}")
    assert (open_["env"]["GPU_INSTANCE_TYPE"], open_["env"]["GPU_HOURLY_PRICE"]) == ("g6.xlarge", "0.8048")
    gather = runs(open_)
    for call in ("client.search_registered_models()", 'get_model_version_by_alias(registered.name, "production")',
                 '"mlplatform", "evidence", "at"', "serving_queries(name, version, period)", "training_cost(runs",
                 "review_issue("):
        assert call in gather, call
    js = scripts(wf)
    assert "issues.create" in js[0] and "labels: ['model-review']" in js[0] and "issue.title === packet.title" in js[0]
    assert "listEventsForTimeline" in js[1]
    text = runs(record)
    assert ('mlplatform ci evidence-predicate review --issue "$RUNNER_TEMP/issue.json" --events "$RUNNER_TEMP/timeline.json"'
            in text)
    last = steps(record)[-1]
    assert last["env"] == {"MODEL": "${{ steps.review.outputs.model }}", "DIGEST": "${{ steps.review.outputs.digest }}"}
    assert 'mlplatform evidence record review --model "$MODEL" --digest "$DIGEST" --predicate' in last["run"]
    # profile defaults: monthly, two weeks
    default = load(rendered[("pragmatic", "kms", "environment")]["model-review.yml"])
    assert default["on"]["schedule"] == [{"cron": "0 9 1 * *"}]
    assert default["jobs"]["open"]["env"]["REVIEW_PERIOD_DAYS"] == "30"


def test_a_bad_review_schedule_is_refused_in_the_stack_config():
    with pytest.raises(SpecError, match=r"^review\.schedule: 'monthly' is not a cron schedule; use 5 fields"):
        load_spec("pragmatic", sets=["review.schedule=monthly"])
    with pytest.raises(SpecError, match=r"^review\.due_days: "):
        load_spec("pragmatic", sets=["review.due_days=0"])


# -- options -----------------------------------------------------------------------------------------
def test_options_reach_the_workflow():
    spec = load_spec("growth", sets=["registry.existing.repository_urls.models="
                                     "210987654321.dkr.ecr.eu-west-1.amazonaws.com/shared/models"])
    o = options(model_name="churn", metric="auc", greater_is_better=True, train_command="make train",
                data_paths=["datasets/**"], branch="release")
    files = render_workflows(spec, o)
    wf = load(files["train-evaluate.yml"])
    assert (wf["env"]["MODEL_NAME"], wf["env"]["METRIC"], wf["env"]["GREATER_IS_BETTER"]) == ("churn", "auc", "true")
    assert wf["on"]["push"] == {"branches": ["release"], "paths": ["datasets/**"]}
    assert next(s for s in steps(wf["jobs"]["train"]) if s["name"] == "Train")["run"] == "make train"
    assert wf["jobs"]["candidate"]["env"]["MODELS_REPOSITORY"] == "210987654321.dkr.ecr.eu-west-1.amazonaws.com/shared/models"
    assert steps(wf["jobs"]["release"])[0]["env"]["RELEASE_FILE"] == "models/churn/release.yaml"
    assert load(files["model-publish.yml"])["jobs"]["publish"]["env"]["MODELS_REPOSITORY"].startswith("210987654321.")


def test_backend_and_secrets_provider_of_the_stack_reach_platform_yml():
    spec = load_spec("pragmatic")
    s3 = load(render_workflows(spec, options(backend_url="s3://acme-state/mlplatform?region=us-east-1",
                                             secrets_provider="passphrase"))["platform.yml"])
    assert s3["env"]["PULUMI_BACKEND_URL"] == "s3://acme-state/mlplatform?region=us-east-1"
    for job in ("preview", "up"):
        step = next(s for s in steps(s3["jobs"][job]) if s["name"] == f"mlplatform {job}")
        assert step["env"] == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}
    kms = load(render_workflows(spec, options(secrets="passphrase", secrets_provider="awskms://alias/pulumi"))["platform.yml"])
    assert "PULUMI_BACKEND_URL" not in kms["env"] and "secrets." not in json.dumps(kms)  # the provider wins
    cloud = load(render_workflows(spec, options(backend_url="https://api.pulumi.com"))["platform.yml"])
    up = next(s for s in steps(cloud["jobs"]["up"]) if s["name"] == "mlplatform up")
    assert up["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}


def test_render_takes_the_projects_stack_backend_and_secrets_provider():
    files = render_workflows(load_spec("pragmatic"), options(), stack="prod", backend_url="s3://acme-state",
                             secrets_provider="passphrase")
    platform = load(files["platform.yml"])
    assert (platform["env"]["STACK"], platform["env"]["PULUMI_BACKEND_URL"]) == ("prod", "s3://acme-state")
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" in files["platform.yml"]
    assert load(files["train-evaluate.yml"])["jobs"]["train"]["runs-on"] == "ml-prod-gpu"
    with pytest.raises(SpecError, match=r"^backend: 'file:///home/me/state' is a local file backend.*--backend s3"):
        render_workflows(load_spec("pragmatic"), options(), backend_url="file:///home/me/state")


def test_without_gpus_training_runs_on_the_cpu_scale_set():
    spec = load_spec("pragmatic", sets=["gpu.pools=[]"])
    files = render_workflows(spec, options())
    assert load(files["train-evaluate.yml"])["jobs"]["train"]["runs-on"] == "ml-dev-cpu"
    env = load(files["model-review.yml"])["jobs"]["open"]["env"]
    assert (env["GPUS_PER_RUN"], env["GPU_INSTANCE_TYPE"], env["GPU_HOURLY_PRICE"]) == ("0", "", "")


def test_runners_off_renders_only_the_platform_workflow():
    assert set(render_workflows(load_spec("pragmatic", sets=["runners.enabled=false"]))) == {
        "platform.yml", "platform-images.yml"}


@pytest.mark.parametrize("o, message", [
    (options(model_name="my model"), "--model-name: 'my model' cannot go into a workflow"),
    (options(train_command="python train.py ${{ github.event.head_commit.message }}"),
     "--train-command: 'python train.py ${{ github.event.head_commit.message }}' is not one command line"),
    (options(train_command="a\nb"), "--train-command: 'a\\nb' is not one command line"),
    (options(data_paths=["../secrets/**"]), "--data-path: '../secrets/**' leaves the repository"),
    (options(data_paths=[]), "--data-path: no path given"),
    (options(stack="Prod"), "--stack: 'Prod' cannot go into a workflow"),
    (options(metric="val loss; rm"), "--metric: 'val loss; rm' cannot go into a workflow"),
    (options(approval="vote"), "--approval: unknown 'vote'; use pull-request"),
    (WorkflowOptions(), "--model-owner: pull-request approval needs the owners who approve model releases"),
    (options(model_owners=["ml-leads"]), "--model-owner: 'ml-leads' is not a CODEOWNERS owner"),
    (options(backend_url="file://~/.pulumi"), "backend: 'file://~/.pulumi' is a local file backend: CI runners cannot "
     "read state on this machine; move the state to S3 with mlplatform init --backend s3"),
    (options(backend_url="s3://bucket/${{ github.token }}"), "backend: 's3://bucket/${{ github.token }}' is not"),
    (options(secrets_provider="passphrase; curl x"), "secretsprovider: 'passphrase; curl x' cannot go into a workflow"),
])
def test_bad_options_are_refused_with_one_line(o, message):
    with pytest.raises(SpecError) as e:
        render_workflows(load_spec("pragmatic"), o)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_environment_approval_needs_no_owners():
    files = render_workflows(load_spec("pragmatic"), WorkflowOptions(approval="environment"))
    assert set(files) == {"platform.yml", "platform-images.yml", "train-evaluate.yml", "model-review.yml"}


def test_a_stack_without_a_models_repository_is_refused():
    with pytest.raises(SpecError, match=r"^registry\.repositories: has no 'models' repository"):
        render_workflows(load_spec("pragmatic", sets=["registry.repositories=[images]"]), options())


# -- CODEOWNERS ----------------------------------------------------------------------------------------
def test_codeowners_entry_is_added_kept_and_updated_in_place():
    fresh = codeowners_text(None, OWNERS)
    assert fresh == f"{CODEOWNERS_MARK}\n/models/ @acme/ml-leads\n"
    theirs = "# team rules\n*       @acme/platform\n/docs/  @acme/writers\n"
    added = codeowners_text(theirs, OWNERS)
    assert added.startswith(theirs) and added.endswith(f"\n{CODEOWNERS_MARK}\n/models/ @acme/ml-leads\n")
    assert codeowners_text(added, OWNERS) == added
    moved = codeowners_text(added, ["@acme/ml-leads", "@alice"])
    assert moved.startswith(theirs) and moved.endswith("/models/ @acme/ml-leads @alice\n") and moved.count("/models/") == 1
    with pytest.raises(SpecError, match=r"^--codeowners: line 2 already gives models/ to @bob; pass the same"):
        codeowners_text("* @acme/all\nmodels/ @bob\n", OWNERS)
    assert codeowners_text("/models/ @acme/ml-leads\n", OWNERS).count("/models/") == 2  # same owners: harmless


# -- writing -----------------------------------------------------------------------------------------
def test_write_refuses_to_overwrite_without_force_and_skips_identical_files(tmp_path):
    out = tmp_path / ".github" / "workflows"
    small, big = render_workflows(load_spec("pragmatic"), options()), render_workflows(load_spec("full"), options())
    names = ["platform.yml", "platform-images.yml", "train-evaluate.yml", "model-publish.yml", "model-review.yml"]
    written, unchanged = write_workflows(small, out)
    assert [p.name for p in written] == names and unchanged == []
    assert write_workflows(small, out) == ([], [out / n for n in names])
    with pytest.raises(SpecError, match=r"^--out: .*platform\.yml, .*train-evaluate\.yml, .*model-review\.yml already "
                                        r"exist with other content; pass --force"):
        write_workflows(big, out)
    assert (out / "platform.yml").read_text() == small["platform.yml"]  # nothing was written
    write_workflows(big, out, force=True)
    assert (out / "train-evaluate.yml").read_text() == big["train-evaluate.yml"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    out = tmp_path / "wf"
    (out / "platform.yml").mkdir(parents=True)  # the first rename fails
    with pytest.raises(SpecError, match=r"^--out: cannot write in"):
        write_workflows(render_workflows(load_spec("pragmatic"), options()), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == ["platform.yml"]


def test_cli_ci_render_writes_refuses_and_forces(tmp_path):
    out = tmp_path / ".github" / "workflows"
    runner = CliRunner()
    owner = ["--model-owner", "@acme/ml-leads"]
    first = runner.invoke(cli, ["ci", "render", "--profile", "growth", "--out", str(out), *owner])
    assert first.exit_code == 0, first.output
    for name in ("platform.yml", "train-evaluate.yml", "model-publish.yml", "model-review.yml"):
        assert f"wrote {out / name}" in first.output
    assert f"wrote {tmp_path / '.github' / 'CODEOWNERS'}" in first.output
    assert (tmp_path / ".github" / "CODEOWNERS").read_text().endswith("/models/ @acme/ml-leads\n")
    again = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out), *owner])
    assert again.exit_code == 1 and "pass --force" in again.output
    forced = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out), "--force", "--json", *owner])
    assert forced.exit_code == 0 and len(json.loads(forced.output)["written"]) == 5
    assert json.loads(forced.output)["unchanged"] == [str(tmp_path / ".github" / "CODEOWNERS")]  # already says so
    assert "(full, us-east-1)" in (out / "train-evaluate.yml").read_text()
    bad = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(out), "--model-name", "a b", *owner])
    assert bad.exit_code == 1 and "--model-name" in bad.output
    no_owner = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(tmp_path / "x")])
    assert no_owner.exit_code == 1 and "--model-owner" in no_owner.output and not (tmp_path / "x").exists()
    env = runner.invoke(cli, ["ci", "render", "--profile", "full", "--approval", "environment", "--out", str(tmp_path / "e")])
    assert env.exit_code == 0 and sorted(p.name for p in (tmp_path / "e").iterdir()) == \
        ["model-review.yml", "platform-images.yml", "platform.yml", "train-evaluate.yml"]
    # switching to environment approval: model-publish.yml from before would keep publishing merges
    switch = runner.invoke(cli, ["ci", "render", "--profile", "full", "--approval", "environment", "--out", str(out)])
    assert switch.exit_code == 1 and "model-publish.yml from an earlier render would still run" in switch.output
    assert (out / "model-publish.yml").exists()
    forced = runner.invoke(cli, ["ci", "render", "--profile", "full", "--approval", "environment", "--out", str(out),
                                 "--force"])
    assert forced.exit_code == 0 and f"removed {out / 'model-publish.yml'}" in forced.output
    assert sorted(p.name for p in out.iterdir()) == ["model-review.yml", "platform-images.yml", "platform.yml",
                                                    "train-evaluate.yml"]
    (out / "model-publish.yml").write_text("name: mine\n")  # not ours: never touched
    assert runner.invoke(cli, ["ci", "render", "--profile", "full", "--approval", "environment", "--out", str(out),
                               "--force"]).exit_code == 0
    assert (out / "model-publish.yml").read_text() == "name: mine\n"
    clash = tmp_path / "CODEOWNERS"
    clash.write_text("/models/ @bob\n")
    refused = runner.invoke(cli, ["ci", "render", "--profile", "full", "--out", str(tmp_path / "c"), *owner,
                                  "--codeowners", str(clash)])
    assert refused.exit_code == 1 and "already gives models/ to @bob" in refused.output
    assert not (tmp_path / "c").exists() and clash.read_text() == "/models/ @bob\n"  # nothing written


# -- running the publish steps: recorded API responses, a real MLflow (file store), stand-ins for oras -------
def _step(wf: dict, job: str, name: str) -> dict:
    return next(s for s in steps(wf["jobs"][job]) if s["name"].startswith(name))


@contextlib.contextmanager
def _mlflow_env(e: dict):
    """This process talks to the test's MLflow (file store) while inside."""
    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: e["env"][k] for k in keys})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def publish_env(tmp_path):
    """A checkout with the release file of churn v2, RUNNER_TEMP with the saved API responses, MLflow with v1
    live and v2 registered, and on PATH an `oras` and an `mlplatform evidence` that log their calls (every other
    `mlplatform` command is the real one)."""
    mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny (the test extra) runs the workflow's MLflow code")
    from mlplatform.stacks.project.promotion import release_yaml

    gh = Path(__file__).parent / "fixtures" / "github"
    temp, repo, stubs = tmp_path / "runner-temp", tmp_path / "checkout", tmp_path / "bin"
    for d in (temp, repo / "models" / "churn", stubs):
        d.mkdir(parents=True)
    for src, dst in (("pull-42.json", "pull.json"), ("pull-42-reviews.json", "reviews.json"),
                     ("pull-42-files.json", "files.json"), ("commit-pulls.json", "pulls.json")):
        (temp / dst).write_text((gh / src).read_text())
    d6, d7 = "sha256:" + "6b" * 32, "sha256:" + "7c" * 32
    (repo / "models" / "churn" / "release.yaml").write_text(release_yaml(
        model="churn", version=2, digest=d7, reference=f"r@{d7}", run_id="r7", run_url="u", mlflow_url="http://m",
        metric="val_loss", greater_is_better=False, candidate_metrics={"val_loss": 0.2}, production=None,
        evidence=[], commit="c", created="2026-11-30T00:00:00Z"))
    log = tmp_path / "calls.log"
    (stubs / "oras").write_text(f'#!/bin/sh\necho "oras $*" >> {log}\n[ "$1" = manifest ] && exit 1\nexit 0\n')
    at = json.dumps({"model": "churn", "environment": "production", "live": {   # `mlplatform evidence at --json`
        "digest": d6, "version": "1", "live_since": "2026-11-02T10:00:00Z", "approved_by": "alice",
        "approved_at": "2026-11-02T09:58:00Z", "trained_from": {"commit": "3f1c2a9e8d7b"}}})
    (stubs / "mlplatform").write_text(
        f'#!/bin/sh\nif [ "$1" = evidence ]; then echo "mlplatform $*" >> {log}\n'
        f'  if [ "$2" = at ]; then echo \'{at}\'; else echo "ledger/churn/000$$-{d7}.json"; fi; exit 0; fi\n'
        # `serve apply` writes the finished Rollout where --rollout-out says; `serve record` answers with
        # SERVE_RECORD_EXIT (0: deployment recorded, 3: rolled back)
        f'if [ "$1" = serve ]; then echo "mlplatform $*" >> {log}\n'
        f'  if [ "$2" = apply ]; then while [ $# -gt 0 ]; do [ "$1" = --rollout-out ] && echo "{{}}" > "$2"; shift; done; exit 0; fi\n'
        f'  echo "ledger/churn/000$$-{d7}.json"; exit "${{SERVE_RECORD_EXIT:-0}}"; fi\n'
        f'exec {BIN / "mlplatform"} "$@"\n')
    for f in stubs.iterdir():
        f.chmod(0o755)
    env = {"PATH": f"{stubs}:{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "RUNNER_TEMP": str(temp),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_OUTPUT": str(tmp_path / "output"),
           "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/churn-platform", "GITHUB_RUN_ID": "99",
           "GITHUB_SHA": "c0ffee4b2a1908f7e6d5c4b3a2918f7e6d5c4b3a", "BRANCH": "main",
           "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true",  # see tests/test_registration.py
           "REPOSITORY": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models"}
    with _mlflow_env({"env": env}):
        client = mlflow.MlflowClient()
        client.create_registered_model("churn")
        exp = client.create_experiment("churn")
        for digest in (d6, d7):
            run = client.create_run(exp)
            client.set_terminated(run.info.run_id)
            client.create_model_version("churn", f"runs:/{run.info.run_id}/model", run.info.run_id,
                                        tags={"oci.digest": digest})
        client.set_registered_model_alias("churn", "production", "1")
    return {"env": env, "repo": repo, "temp": temp, "log": log, "d6": d6, "d7": d7, "tmp": tmp_path}


def _bash(script: str, e: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], env=e["env"], cwd=e["repo"], capture_output=True, text=True,
                          timeout=180)


def _production_version(e: dict) -> str:
    """What MLflow's `production` alias names now, read from the store the steps wrote (in this process: the
    steps ran in their own)."""
    import mlflow

    with _mlflow_env(e):
        return str(mlflow.MlflowClient().get_model_version_by_alias("churn", "production").version)


def test_the_publish_steps_run_record_the_approval_then_move_the_alias(publish_env):
    e = publish_env
    wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["model-publish.yml"])
    merged = _bash(_step(wf, "publish", "The merged pull request")["run"], e)
    assert merged.returncode == 0, merged.stderr
    assert (e["tmp"] / "output").read_text() == "number=42\n"
    approval = _bash(_step(wf, "publish", "The approval")["run"], e)
    assert approval.returncode == 0, approval.stderr
    assert json.loads((e["temp"] / "approval.json").read_text())["approver"] == "alice"
    assert json.loads((e["temp"] / "releases.json").read_text()) == [{"model": "churn", "version": "2", "digest": e["d7"]}]
    publish = _bash(_step(wf, "publish", "Tag the artifact")["run"], e)
    assert publish.returncode == 0, publish.stderr
    calls = e["log"].read_text().splitlines()
    repo = e["env"]["REPOSITORY"]
    assert calls[0] == f"oras manifest fetch --descriptor {repo}:churn-v2"
    assert calls[1] == f"oras tag {repo}@{e['d7']} churn-v2"
    assert calls[2] == f"mlplatform evidence record approval --model churn --digest {e['d7']} --predicate {e['temp']}/approval.json"
    assert len(calls) == 3 and _production_version(e) == "1"  # approved, not yet live
    step = _step(wf, "publish", "Roll out through production")
    e["env"].update(step["env"])  # the step's own env (stack, project folder, environments)
    roll = _bash(step["run"], e)
    assert roll.returncode == 0, roll.stderr
    calls = e["log"].read_text().splitlines()[3:]
    assert calls[0].startswith("mlplatform evidence at ") and calls[0].endswith(" --model churn --environment production --json")
    assert calls[1] == (f"mlplatform serve apply --model churn --environment production --version 2 --digest {e['d7']} "
                        f"--repository {e['env']['REPOSITORY']} --rollout-out {e['temp']}/rollout-churn-production.json "
                        "--dir . --stack dev")
    assert calls[2] == (f"mlplatform serve record --model churn --environment production --rollout "
                        f"{e['temp']}/rollout-churn-production.json --version 2 --digest {e['d7']} --predicate "
                        f"{e['temp']}/rollout-churn-production-predicate.json --from-version 1 --from-digest {e['d6']}")
    extra = json.loads((e["temp"] / "rollout-churn-production-predicate.json").read_text())
    assert extra["approval"].startswith("ledger/churn/") and extra["workflowRun"].endswith("/actions/runs/99")
    assert _production_version(e) == "2"
    assert "alias `production` of `churn` now points at version 2" in (e["tmp"] / "summary.md").read_text()
    again = _bash(_step(wf, "publish", "Tag the artifact")["run"], e)  # a re-run publishes nothing twice
    assert again.returncode == 0 and "already in production" in again.stdout and len(e["log"].read_text().splitlines()) == 6


def test_a_rolled_back_canary_leaves_the_alias_where_it_was(publish_env):
    e = publish_env
    wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["model-publish.yml"])
    for name in ("The merged pull request", "The approval", "Tag the artifact"):
        assert _bash(_step(wf, "publish", name)["run"], e).returncode == 0
    e["env"]["SERVE_RECORD_EXIT"] = "3"
    step = _step(wf, "publish", "Roll out through production")
    e["env"].update(step["env"])
    roll = _bash(step["run"], e)
    assert roll.returncode == 1 and "was rolled back in production: the MLflow alias stays where it was" in roll.stderr
    assert _production_version(e) == "1"
    assert "rolled back in production" in (e["tmp"] / "summary.md").read_text()


def test_the_publish_steps_refuse_a_direct_push_and_an_artifact_that_was_not_reviewed(publish_env):
    e = publish_env
    wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["model-publish.yml"])
    direct = _bash(_step(wf, "publish", "The merged pull request")["run"], {**e, "env": {**e["env"], "GITHUB_SHA": "ab" * 20}})
    assert direct.returncode == 3 and "was not merged from a pull request" in direct.stderr
    assert not (e["tmp"] / "output").exists()
    # the release names v2 with another digest than MLflow's v2 holds
    (e["temp"] / "approval.json").write_text("{}")
    (e["temp"] / "releases.json").write_text(json.dumps([{"model": "churn", "version": "2", "digest": e["d6"]}]))
    tampered = _bash(_step(wf, "publish", "Tag the artifact")["run"], e)
    assert tampered.returncode != 0 and "only the reviewed artifact is published" in tampered.stderr
    assert not e["log"].exists() and _production_version(e) == "1"  # nothing tagged, recorded or moved


def _with_env(names: dict, **values: str) -> dict:
    """A step's environment: the workflow's literal values, then `values` for the ${{ }} ones."""
    return {**{k: v for k, v in names.items() if "${{" not in str(v)}, **values}


def test_the_train_and_candidate_steps_compare_record_evidence_and_write_the_release(publish_env):
    import mlflow

    e = publish_env
    wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["train-evaluate.yml"])
    os_env = {"MLFLOW_TRACKING_URI": e["env"]["MLFLOW_TRACKING_URI"], "MLFLOW_ALLOW_FILE_STORE": "true"}
    code = ("import mlflow, os\nc = mlflow.MlflowClient()\n"
            "p = c.get_model_version_by_alias('churn', 'production')\nc.log_metric(p.run_id, 'val_loss', 0.25)\n"
            "r = c.create_run(c.get_experiment_by_name('churn').experiment_id, tags={'data.train': 's3://acme-data/churn/train.parquet?versionId=3HL4kq', 'data.note': 'unpinned'})\n"
            "c.log_metric(r.info.run_id, 'val_loss', 0.2)\nc.log_metric(r.info.run_id, 'auc', 0.9)\n"
            "from sklearn.dummy import DummyClassifier\n"
            "with mlflow.start_run(run_id=r.info.run_id):\n"
            # requirements given: MLflow's inference of them re-imports the model in a subprocess (~6 s)
            "    mlflow.sklearn.log_model(DummyClassifier().fit([[0], [1]], [0, 1]), name='model', pip_requirements=['scikit-learn'])\n"
            "c.set_terminated(r.info.run_id)\n"
            "print(r.info.run_id)")
    made = subprocess.run([sys.executable, "-c", code], env={**e["env"], **os_env}, capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, made.stderr
    run_id = made.stdout.strip().splitlines()[-1]
    base = {**e["env"], **_with_env(wf["env"]), "MLFLOW_TRACKING_URI": e["env"]["MLFLOW_TRACKING_URI"],
            "MLFLOW_RUN_ID": run_id, "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "schedule",
            "GITHUB_WORKFLOW_REF": "acme/churn-platform/.github/workflows/train-evaluate.yml@refs/heads/main"}
    compare = _bash(_step(wf, "train", "Compare the candidate")["run"], {**e, "env": base})
    assert compare.returncode == 0, compare.stderr
    assert (e["tmp"] / "output").read_text() == "promote=true\n"
    assert "| val_loss (decides) | 0.2 | 0.25 | -0.05 |" in (e["tmp"] / "summary.md").read_text()
    (e["tmp"] / "output").unlink()
    download = _bash(_step(wf, "candidate", "Download the candidate model")["run"], {**e, "env": base})
    assert download.returncode == 0, download.stderr
    model_uri = (e["tmp"] / "output").read_text().strip().removeprefix("model_uri=")
    assert model_uri.startswith("models:/m-") and (e["temp"] / "candidate" / "model" / "MLmodel").is_file()
    (e["tmp"] / "output").unlink()
    step = _step(wf, "candidate", "Record provenance")
    env = {**base, **_with_env(wf["jobs"]["candidate"]["env"], PROMOTE="true"),
           **_with_env(step["env"], DIGEST=e["d7"], OCI_REF=f"{e['env']['REPOSITORY']}@{e['d7']}", MODEL_URI=model_uri)}
    recorded = _bash(step["run"], {**e, "env": env})
    assert recorded.returncode == 0, recorded.stderr
    calls = e["log"].read_text().splitlines()
    assert [c.split()[3] for c in calls] == ["provenance", "evaluation"]
    temp, sha = e["temp"], e["env"]["GITHUB_SHA"]
    assert calls[0].startswith(
        f"mlplatform evidence record provenance --model churn --digest {e['d7']} --predicate {temp}/provenance.json "
        f"--field commit={sha} --field repository=https://github.com/acme/churn-platform --field ref=refs/heads/main "
        f"--field workflow={base['GITHUB_WORKFLOW_REF']} --field run=https://github.com/acme/churn-platform/actions/runs/99 "
        f"--field image={step['env']['TRAINING_IMAGE']} --field mlflow_run={run_id} --field started=") and \
        "--field finished=" in calls[0] and calls[0].endswith(" --field data=s3://acme-data/churn/train.parquet?versionId=3HL4kq")
    assert "@sha256:" in step["env"]["TRAINING_IMAGE"]
    provenance = json.loads((temp / "provenance.json").read_text())
    assert provenance["mlflow"]["dataTags"] == {"train": "s3://acme-data/churn/train.parquet?versionId=3HL4kq",
                                                "note": "unpinned"}
    evaluation = json.loads((temp / "evaluation.json").read_text())
    assert evaluation["passed"] is True and evaluation["metrics"] == {"val_loss": 0.2, "auc": 0.9}
    assert evaluation["thresholds"] == {"val_loss": 0.25} and evaluation["mlflowRunId"] == run_id
    assert evaluation["baseline"] == {"digest": {"sha256": e["d6"].split(":")[1]}, "version": "1",
                                      "mlflowRunId": evaluation["baseline"]["mlflowRunId"], "metrics": {"val_loss": 0.25}}
    out = dict(line.split("=", 1) for line in (e["tmp"] / "output").read_text().splitlines())
    import base64

    from mlplatform.stacks.project.promotion import read_release

    doc = read_release(base64.b64decode(out["release"]).decode())
    assert out["version"] == doc["candidate"]["version"] == "3" and doc["candidate"]["digest"] == e["d7"]
    assert doc["production"]["version"] == "1" and doc["metrics"]["val_loss"]["production"] == 0.25
    assert doc["evidence"] == [c for c in doc["evidence"] if c.startswith("ledger/churn/")] and len(doc["evidence"]) == 2
    assert "## Promote `churn` v3" in base64.b64decode(out["body"]).decode()
    with _mlflow_env(e):
        v3 = mlflow.MlflowClient().get_model_version("churn", "3")
    assert v3.tags["oci.digest"] == e["d7"] and v3.run_id == run_id


class _Prometheus(http.server.BaseHTTPRequestHandler):
    """Answers /api/v1/query like Prometheus: the last period has data, the period before (offset) none."""

    queries: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
        _Prometheus.queries.append(query)
        if "offset" in query:
            result = []
        elif "by (class)" in query:
            result = [{"metric": {"class": "churn"}, "value": [0, "0.12"]}, {"metric": {"class": "stay"}, "value": [0, "0.88"]}]
        elif "histogram_quantile(0.95, sum by (le) (rate(model_request_duration" in query:
            result = [{"metric": {}, "value": [0, "0.081"]}]
        else:
            result = [{"metric": {}, "value": [0, "4.5"]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_review_step_gathers_the_packet_from_mlflow_prometheus_and_the_ledger(publish_env):
    e = publish_env
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["model-review.yml"])
        job = wf["jobs"]["open"]
        env = {**e["env"], **_with_env(wf["env"]), **_with_env(job["env"], PROMETHEUS_URL=f"http://127.0.0.1:{server.server_port}"),
               "MLFLOW_TRACKING_URI": e["env"]["MLFLOW_TRACKING_URI"]}
        gathered = _bash(_step(wf, "open", "Gather")["run"], {**e, "env": env})
    finally:
        server.shutdown()
    assert gathered.returncode == 0, gathered.stderr
    [packet] = json.loads((e["temp"] / "reviews.json").read_text())
    assert packet["title"] == "Review churn v1"
    body = packet["body"]
    for line in ("- live since: 2026-11-02T10:00:00Z", "- approved by: @alice at 2026-11-02T09:58:00Z",
                 "- trained from commit: `3f1c2a9e8d7b`", f"- artifact: `{e['d6']}`",
                 "| requests/s | 4.5 | no data |", "| latency p95 (s) | 0.081 | no data |",
                 "| class churn share | 12.00% | no data |", "| all time | 2 |", "Priced as g6.xlarge on-demand at $0.8048/h"):
        assert line in body, line
    assert f'"digest": "{e["d6"]}"' in body and '"model": "churn"' in body  # the marker the record job reads
    assert e["log"].read_text().startswith("mlplatform evidence at ")
    assert len(_Prometheus.queries) == 18 and all('model="churn", version="1"' in q for q in _Prometheus.queries)


def test_the_record_steps_turn_the_closed_issue_into_a_review_record(publish_env):
    e = publish_env
    gh = Path(__file__).parent / "fixtures" / "github"
    (e["temp"] / "issue.json").write_text((gh / "issue-57.json").read_text())
    (e["temp"] / "timeline.json").write_text((gh / "issue-57-timeline.json").read_text())
    wf = load(render_workflows(load_spec("pragmatic"), options())["model-review.yml"])
    predicate = _bash(_step(wf, "record", "The review predicate")["run"], e)
    assert predicate.returncode == 0, predicate.stderr
    outputs = dict(line.split("=", 1) for line in (e["tmp"] / "output").read_text().splitlines())
    assert outputs == {"model": "churn", "digest": e["d7"]}
    assert json.loads((e["temp"] / "review.json").read_text())["outcome"] == "keep"
    record = _step(wf, "record", "Record the review")
    done = _bash(record["run"], {**e, "env": {**e["env"], "MODEL": outputs["model"], "DIGEST": outputs["digest"]}})
    assert done.returncode == 0, done.stderr
    assert e["log"].read_text() == (f"mlplatform evidence record review --model churn --digest {e['d7']} "
                                    f"--predicate {e['temp']}/review.json\n")
    # an issue someone else opened records nothing: the job fails at the predicate
    forged = json.loads((gh / "issue-57.json").read_text())
    forged["user"] = {"login": "mallory", "type": "User"}
    (e["temp"] / "issue.json").write_text(json.dumps(forged))
    refused = _bash(_step(wf, "record", "The review predicate")["run"], e)
    assert refused.returncode == 3 and "not by the review workflow" in refused.stderr


@pytest.mark.parametrize("exists", [False, True])
def test_the_release_step_writes_one_file_on_a_fresh_release_branch_and_opens_or_updates_the_pr(tmp_path, exists):
    import base64

    wf = load(render_workflows(load_spec("pragmatic"), options(model_name="churn"))["train-evaluate.yml"])
    step = steps(wf["jobs"]["release"])[0]
    log, stubs = tmp_path / "gh.log", tmp_path / "bin"
    stubs.mkdir()
    (stubs / "gh").write_text(f"""#!/bin/bash
echo "gh $*" >> {log}
case "$*" in
  "api repos/acme/app/git/ref/heads/main --jq .object.sha") echo 1a2b3c ;;
  "api repos/acme/app/git/ref/heads/mlplatform/release/churn") [ "$EXISTS" = yes ] || exit 1 ;;
  api\\ repos/acme/app/contents/*) [ "$EXISTS" = yes ] && echo blob9 || exit 1 ;;
  pr\\ list*) [ "$EXISTS" = yes ] && echo 42 ;;
  pr\\ create*) echo https://github.com/acme/app/pull/43 ;;
esac
exit 0
""")
    (stubs / "gh").chmod(0o755)
    release, body = "kind: mlplatform.io/release/v1\n", "## Promote `churn` v3\n"
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "EXISTS": "yes" if exists else "no", "GITHUB_REPOSITORY": "acme/app",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "MODEL_NAME": "churn",
           **_with_env(step["env"], GH_TOKEN="t", VERSION="3", RELEASE_B64=base64.b64encode(release.encode()).decode(),
                       BODY_B64=base64.b64encode(body.encode()).decode())}
    result = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    put = next(c for c in calls if c.startswith("gh api -X PUT"))
    assert put.startswith("gh api -X PUT repos/acme/app/contents/models/churn/release.yaml -f message=Release churn v3 "
                          f"-f branch=mlplatform/release/churn -f content={env['RELEASE_B64']}")
    assert (tmp_path / "body.md").read_text() == body
    if exists:
        assert "gh api -X PATCH repos/acme/app/git/refs/heads/mlplatform/release/churn -f sha=1a2b3c -F force=true" in calls
        assert put.endswith("-f sha=blob9")  # updating the file the base branch already has
        assert calls[-1].startswith("gh pr edit 42 --repo acme/app --title Release churn v3 --body-file")
        assert "updated pull request #42" in (tmp_path / "summary.md").read_text()
    else:
        assert "gh api repos/acme/app/git/refs -f ref=refs/heads/mlplatform/release/churn -f sha=1a2b3c" in calls
        assert "-f sha=" not in put
        assert calls[-1].startswith("gh pr create --repo acme/app --head mlplatform/release/churn --base main "
                                    "--title Release churn v3 --body-file")
        assert "opened https://github.com/acme/app/pull/43" in (tmp_path / "summary.md").read_text()


def test_the_test_extras_mlflow_is_the_one_the_workflows_install():
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"mlflow-skinny=={MLFLOW_CLIENT}" in extras["test"]


def test_growth_rolls_out_through_staging_with_smoke_requests_before_production():
    wf = load(render_workflows(load_spec("growth"), options())["model-publish.yml"])
    step = _step(wf, "publish", "Roll out through staging, production")
    assert step["env"]["ENVIRONMENTS"] == "staging production"
    text = step["run"]
    assert text.index('"mlplatform", "serve", "record"') < text.index('"mlplatform", "serve", "smoke"')
    assert 'if env != "production"' in text
