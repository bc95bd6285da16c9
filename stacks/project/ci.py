"""GitHub Actions workflows for a stack, rendered from the jinja2 templates in `templates/workflows/`.

* `platform.yml`: `mlplatform preview` plus the offline cost delta on pull requests (one PR comment),
  `mlplatform up` on the main branch behind a protected environment. GitHub-hosted runners, AWS by OIDC.
* `train-evaluate.yml`: on a schedule, by hand or when training data/code change: train on the
  stack's GPU runner (`runs-on` = the GPU scale set's name), log to MLflow, compare with the
  production model, post the comparison, wait for approval in the `model-promotion` environment,
  then push the model to the `models` ECR repository with oras and tag it.

Every action is pinned by full commit SHA (`versions.GITHUB_ACTIONS`), every workflow starts from
`permissions: {}` and each job asks only for what it uses, and no secret or untrusted value is
expanded into a script: values reach `run:` steps through environment variables.

`render_workflows(spec, options)` returns {file name: text}; `write_workflows` writes them atomically
(all files or none) and never overwrites a different file without `force`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Literal

import jinja2

from mlplatform.components.ci_runners import scale_set_names
from mlplatform.components.metadata_store import in_cluster_url
from mlplatform.components.versions import GITHUB_ACTIONS, MLFLOW_CLIENT

from ..files import replace_all
from ..config.spec import SpecError, StackSpec

TEMPLATES = {"platform.yml": "platform.yml.j2", "train-evaluate.yml": "train-evaluate.yml.j2"}
HOSTED_RUNNER = "ubuntu-24.04"
DEPLOY_ENVIRONMENT = "platform"
PREVIEW_ENVIRONMENT = "platform-preview"
APPROVAL_ENVIRONMENT = "model-promotion"
PREVIEW_ROLE_VAR = "MLPLATFORM_PREVIEW_ROLE_ARN"
DEPLOY_ROLE_VAR = "MLPLATFORM_DEPLOY_ROLE_ARN"
MODELS_REPOSITORY = "models"
PYTHON_VERSION = "3.11"
UP_TIMEOUT_MINUTES = 120

_STACK = re.compile(r"^[a-z][a-z0-9-]{0,19}$")  # the same rule as `mlplatform init`
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # an MLflow model name that is also an OCI tag
_METRIC = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,249}$")
_PATH = re.compile(r"^[A-Za-z0-9_.*/-][A-Za-z0-9_.*/ -]*$")


@dataclass
class WorkflowOptions:
    """What the workflows need beyond the stack spec.

    Fields:
        stack (str, default "dev"): the stack (runner labels and physical names derive from it).
        project_dir (str, default "."): the Pulumi project folder (`mlplatform init`) in the repository.
        branch (str, default "main"): the branch that deploys and whose data changes retrain.
        secrets (str, default "kms"): how the stack's secrets are encrypted; "passphrase" passes the
            repository secret PULUMI_CONFIG_PASSPHRASE to preview and up.
        model_name (str, default "model"): the MLflow registered model (alias `production`) and the
            OCI tag prefix in the models repository.
        metric (str, default "val_loss"): the metric that decides whether the candidate is better.
        greater_is_better (bool, default False): whether a higher `metric` is better.
        train_command (str, default "python training/train.py"): runs the training; it logs to MLflow
            (mlflow.start_run() continues the run the workflow opened) and logs the model under
            `model_artifact_path`.
        requirements (str, default "training/requirements.txt"): pip requirements of the training.
        data_paths (list[str], default ["data/**", "training/**"]): a push to `branch` touching these retrains.
        model_artifact_path (str, default "model"): the run's artifact path of the model.
        experiment (str | None, default None): MLflow experiment; None: the model name.
        train_timeout_minutes (int, default 360): the training job's timeout (runner time only).
    """

    stack: str = "dev"
    project_dir: str = "."
    branch: str = "main"
    secrets: Literal["kms", "passphrase"] = "kms"
    model_name: str = "model"
    metric: str = "val_loss"
    greater_is_better: bool = False
    train_command: str = "python training/train.py"
    requirements: str = "training/requirements.txt"
    data_paths: list[str] = field(default_factory=lambda: ["data/**", "training/**"])
    model_artifact_path: str = "model"
    experiment: str | None = None
    train_timeout_minutes: int = 360


def uses(action: str) -> str:
    """`owner/repo@<full commit sha> # <tag>` for an action pinned in versions.GITHUB_ACTIONS."""
    tag, sha = GITHUB_ACTIONS[action]
    return f"{action}@{sha} # {tag}"


def _plain(key: str, value: str, pattern: re.Pattern[str], fix: str) -> None:
    if not isinstance(value, str) or not pattern.match(value) or "${{" in value:
        raise SpecError(key, f"{value!r} cannot go into a workflow", fix)


def _validate(o: WorkflowOptions) -> None:
    _plain("--stack", o.stack, _STACK, "use a lowercase letter, then letters, digits or '-' (at most 20)")
    _plain("--branch", o.branch, _BRANCH, "use a branch name like main")
    _plain("--model-name", o.model_name, _MODEL, "use letters, digits, '.', '_' or '-' (at most 63), like churn-model")
    _plain("--metric", o.metric, _METRIC, "use the metric's name as the training logs it, like val_loss")
    for key, path in (("--project-dir", o.project_dir), ("--requirements", o.requirements),
                      ("--model-artifact-path", o.model_artifact_path), *(("--data-path", p) for p in o.data_paths)):
        _plain(key, path, _PATH, "use a relative path inside the repository (letters, digits, '.', '_', '-', '/', '*')")
        if path.startswith("/") or ".." in path.split("/"):
            raise SpecError(key, f"{path!r} leaves the repository", "use a path relative to the repository root")
    if not o.data_paths:
        raise SpecError("--data-path", "no path given", "name the training data and code, like data/** and training/**")
    cmd = o.train_command
    if not isinstance(cmd, str) or not cmd.strip() or "\n" in cmd or "${{" in cmd:
        raise SpecError("--train-command", f"{cmd!r} is not one command line",
                        "give one shell line without ${{ }} expressions, like python training/train.py")
    if o.secrets not in ("kms", "passphrase"):
        raise SpecError("--secrets", f"unknown {o.secrets!r}", "use kms or passphrase")
    if not isinstance(o.train_timeout_minutes, int) or not 10 <= o.train_timeout_minutes <= 4320:
        raise SpecError("--train-timeout", f"{o.train_timeout_minutes!r} minutes", "use 10 to 4320 (3 days)")
    if o.experiment is not None:
        _plain("--experiment", o.experiment, _METRIC, "use letters, digits, '_', '.', '/' or '-'")


def _quote(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


def _expression_string(value: str) -> str:
    """A string literal inside a GitHub expression: single quotes, doubled."""
    return "'" + value.replace("'", "''") + "'"


def _environment() -> jinja2.Environment:
    # [[ ]] / [% %]: GitHub's own ${{ }} expressions pass through untouched.
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: resources.files("mlplatform.stacks").joinpath(
            "templates", "workflows", name).read_text()),
        variable_start_string="[[", variable_end_string="]]",
        block_start_string="[%", block_end_string="%]",
        comment_start_string="[#", comment_end_string="#]",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False,
    )
    env.filters["q"] = _quote
    env.filters["sq"] = _expression_string
    return env


def models_repository(spec: StackSpec, stack: str) -> str:
    """The models ECR repository: its URL when adopted, else its path (the workflow adds this account's host)."""
    r = spec.registry
    if r.existing and MODELS_REPOSITORY in r.existing.repository_urls:
        return r.existing.repository_urls[MODELS_REPOSITORY]
    if MODELS_REPOSITORY not in r.repositories:
        raise SpecError("registry.repositories", f"has no {MODELS_REPOSITORY!r} repository for the trained models",
                        f"add {MODELS_REPOSITORY} to registry.repositories")
    return f"{r.repository_prefix}/{stack}/{MODELS_REPOSITORY}"


def workflow_context(spec: StackSpec, o: WorkflowOptions) -> dict[str, object]:
    """Everything the templates read."""
    from ..program import base_name

    has_gpu = bool(spec.gpu.pools or spec.gpu.existing)
    labels = scale_set_names(base_name(o.stack), gpu=has_gpu)
    project_dir = o.project_dir.strip("/") or "."
    in_repo = "" if project_dir == "." else f"{project_dir}/"
    return {
        "version": metadata.version("mlplatform"),
        "stack": o.stack, "profile": spec.profile, "region": spec.region, "branch": o.branch,
        "project_dir": project_dir, "project_dir_in_repo": in_repo,
        "platform_paths": ([f"{in_repo}**"] if in_repo else
                           ["Pulumi.yaml", "Pulumi.*.yaml", "__main__.py", "requirements.txt"])
                          + [".github/workflows/platform.yml"],
        "passphrase": o.secrets == "passphrase",
        "actions": {a: uses(a) for a in GITHUB_ACTIONS},
        "python_version": PYTHON_VERSION, "hosted_runner": HOSTED_RUNNER,
        "deploy_environment": DEPLOY_ENVIRONMENT, "preview_environment": PREVIEW_ENVIRONMENT,
        "approval_environment": APPROVAL_ENVIRONMENT,
        "preview_role_var": PREVIEW_ROLE_VAR, "deploy_role_var": DEPLOY_ROLE_VAR,
        "up_timeout_minutes": UP_TIMEOUT_MINUTES,
        "gpu": has_gpu, "train_label": labels["gpu" if has_gpu else "cpu"], "publish_label": labels["cpu"],
        "mlflow_url": in_cluster_url(), "mlflow_version": MLFLOW_CLIENT,
        "experiment": o.experiment or o.model_name, "model_name": o.model_name,
        "model_artifact_path": o.model_artifact_path, "metric": o.metric, "greater_is_better": o.greater_is_better,
        "train_command": o.train_command, "requirements": o.requirements, "data_paths": list(o.data_paths),
        "schedule": spec.retraining.schedule, "train_timeout_minutes": o.train_timeout_minutes,
        "models_repository": models_repository(spec, o.stack) if spec.runners.enabled else "",
    }


def render_workflows(spec: StackSpec, options: WorkflowOptions | None = None) -> dict[str, str]:
    """{file name: workflow text}. train-evaluate.yml needs the stack's runners (runners.enabled)."""
    o = options or WorkflowOptions()
    _validate(o)
    context = workflow_context(spec, o)
    env = _environment()
    names = [n for n in TEMPLATES if n != "train-evaluate.yml" or spec.runners.enabled]
    return {n: env.get_template(TEMPLATES[n]).render(**context) for n in names}


def write_workflows(files: dict[str, str], out_dir: str | Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Write the workflows into `out_dir` (created): all or none; returns (written, unchanged).

    A file that exists with the same text is left alone; with other text it is refused (SpecError)
    unless `force`. Every file goes to a temporary file first and is renamed only when all are written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpecError("--out", f"{out} is not a folder", "give the folder for the workflows, like .github/workflows")
    targets = {out / name: text for name, text in files.items()}
    unchanged = [p for p, text in targets.items() if p.is_file() and p.read_text() == text]
    clash = [p for p in targets if p.exists() and p not in unchanged]
    if clash and not force:
        raise SpecError("--out", f"{', '.join(map(str, clash))} already exist{'s' if len(clash) == 1 else ''} "
                        "with other content", "pass --force to overwrite, or choose another --out")
    todo = {p: text for p, text in targets.items() if p not in unchanged}
    previous = {p.name: p.read_text() for p in clash if p.is_file()}
    replace_all(out, {p.name: text for p, text in todo.items()}, previous, "--out")
    return list(todo), unchanged
