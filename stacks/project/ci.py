"""GitHub Actions workflows for a stack, rendered from the jinja2 templates in `templates/workflows/`.

* `platform.yml`: `mlplatform preview` plus the offline cost delta on pull requests (one PR comment),
  `mlplatform up` on the main branch behind a protected environment. GitHub-hosted runners, AWS by OIDC.
* `train-evaluate.yml`: on a schedule, by hand or when training data/code change: train on the
  stack's GPU runner (`runs-on` = the GPU scale set's name), log to MLflow, compare with the
  production model; push the candidate to the `models` ECR repository with oras and record its
  provenance and evaluation in the evidence ledger. Then, by `approval`:
  - "pull-request" (default; works on every GitHub plan): open or update the pull request that changes
    `models/<name>/release.yaml`. Merging it is the approval; `model-publish.yml` does the rest.
  - "environment": wait for a required reviewer of the `model-promotion` environment (private
    repositories: GitHub Enterprise only), then publish in the same run.
* `model-publish.yml` (pull-request approval): on a push of release files to the default branch, find
  the merged pull request, read its reviews, tag the artifact `<name>-v<version>`, move the MLflow
  `production` alias and record approval and deployment in the ledger.
* `model-review.yml`: on `review.schedule`, one issue per model with a `production` alias (the review
  packet); closing it with keep / retrain / retire records a review in the ledger.
* `platform-images.yml` (stacks with an `images` repository): builds the platform's own images (evidence
  observer, drift job, serving runtime: `stacks/project/images.py`) from the mlplatform the project pins and
  pushes them under the tags the stack deploys, leaving an existing (immutable) tag alone; in the deploy
  environment, with its role.

Every action is pinned by full commit SHA (`versions.GITHUB_ACTIONS`), every workflow starts from
`permissions: {}` and each job asks only for what it uses, and no secret or untrusted value is
expanded into a script: values reach `run:` steps through environment variables. The GitHub API
responses become ledger records in tested Python (`stacks/project/promotion.py`, `mlplatform ci evidence-predicate`);
`mlplatform evidence record` is the only writer of the ledger.

`render_workflows(spec, options)` returns {file name: text}; `write_workflows` writes them atomically
(all files or none) and never overwrites a different file without `force`. `codeowners_text` adds the
`/models/` owners to a CODEOWNERS file, keeping everything else in it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Literal

import jinja2

from mlplatform.components.ci_runners import scale_set_names
from mlplatform.components.metadata_store import in_cluster_url
from mlplatform.components.versions import GITHUB_ACTIONS, MLFLOW_CLIENT, MODELCAR_BASE_IMAGE, RUNNER_IMAGE

from ..config.spec import SpecError, StackSpec
from ..files import replace_all
from .images import IMAGES

TEMPLATES = {
    "platform.yml": "platform.yml.j2",
    "train-evaluate.yml": "train-evaluate.yml.j2",
    "model-publish.yml": "model-publish.yml.j2",
    "model-review.yml": "model-review.yml.j2",
    "platform-images.yml": "platform-images.yml.j2",
}
APPROVALS = ("pull-request", "environment")
HOSTED_RUNNER = "ubuntu-24.04"
DEPLOY_ENVIRONMENT = "platform"
PREVIEW_ENVIRONMENT = "platform-preview"
APPROVAL_ENVIRONMENT = "model-promotion"
PREVIEW_ROLE_VAR = "MLPLATFORM_PREVIEW_ROLE_ARN"
DEPLOY_ROLE_VAR = "MLPLATFORM_DEPLOY_ROLE_ARN"
MODELS_REPOSITORY = "models"
IMAGES_REPOSITORY = "images"  # the platform's own images (platform-images.yml)
LEDGER_VAR, LEDGER_KEY_VAR = "MLPLATFORM_LEDGER", "MLPLATFORM_LEDGER_KEY"  # repository variables
PROMETHEUS_URL_VAR = "MLPLATFORM_PROMETHEUS_URL"  # repository variable: overrides the stack's Prometheus
CODEOWNERS_MARK = "# mlplatform: model releases need a review by these owners (mlplatform ci render)"
PYTHON_VERSION = "3.11"
UP_TIMEOUT_MINUTES = 120

_STACK = re.compile(r"^[a-z][a-z0-9-]{0,19}$")  # the same rule as `mlplatform init`
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # an MLflow model name that is also an OCI tag
_METRIC = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,249}$")
_OWNER = re.compile(r"^(@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]{1,100})?|[^@\s]+@[^@\s]+\.[a-z]{2,})$")
_BACKEND = re.compile(r"^(s3|gs|azblob|https)://[^\s'\"`$]+$")
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
        approval ("pull-request" | "environment", default "pull-request"): how a better candidate is
            approved: by merging the pull request that changes models/<name>/release.yaml (every plan),
            or by a required reviewer of the `model-promotion` environment (private repositories: Enterprise).
        model_owners (list[str], default []): the CODEOWNERS owners of models/ (@org/team, @user or an
            email) whose review approves a release; required with approval "pull-request".
        backend_url (str | None, default None): the stack's Pulumi state backend (Pulumi.yaml `backend.url`);
            CI gets it as PULUMI_BACKEND_URL. A local file:// backend is refused (runners cannot read it).
            None: whatever the project's Pulumi.yaml says.
        secrets_provider (str | None, default None): the stack's secrets provider (`secretsprovider:` of
            Pulumi.<stack>.yaml: "passphrase", "awskms://…", …); "passphrase" passes the repository secret
            PULUMI_CONFIG_PASSPHRASE. None: decided by `secrets`.
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
    approval: Literal["pull-request", "environment"] = "pull-request"
    model_owners: list[str] = field(default_factory=list)
    backend_url: str | None = None
    secrets_provider: str | None = None


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
    for key, path in (
        ("--project-dir", o.project_dir),
        ("--requirements", o.requirements),
        ("--model-artifact-path", o.model_artifact_path),
        *(("--data-path", p) for p in o.data_paths),
    ):
        _plain(key, path, _PATH, "use a relative path inside the repository (letters, digits, '.', '_', '-', '/', '*')")
        if path.startswith("/") or ".." in path.split("/"):
            raise SpecError(key, f"{path!r} leaves the repository", "use a path relative to the repository root")
    if not o.data_paths:
        raise SpecError("--data-path", "no path given", "name the training data and code, like data/** and training/**")
    cmd = o.train_command
    if not isinstance(cmd, str) or not cmd.strip() or "\n" in cmd or "${{" in cmd:
        raise SpecError(
            "--train-command",
            f"{cmd!r} is not one command line",
            "give one shell line without ${{ }} expressions, like python training/train.py",
        )
    if o.secrets not in ("kms", "passphrase"):
        raise SpecError("--secrets", f"unknown {o.secrets!r}", "use kms or passphrase")
    if not isinstance(o.train_timeout_minutes, int) or not 10 <= o.train_timeout_minutes <= 4320:
        raise SpecError("--train-timeout", f"{o.train_timeout_minutes!r} minutes", "use 10 to 4320 (3 days)")
    if o.experiment is not None:
        _plain("--experiment", o.experiment, _METRIC, "use letters, digits, '_', '.', '/' or '-'")
    if o.approval not in APPROVALS:
        raise SpecError("--approval", f"unknown {o.approval!r}", "use pull-request (every GitHub plan) or environment")
    for owner in o.model_owners:
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise SpecError(
                "--model-owner", f"{owner!r} is not a CODEOWNERS owner", "use @org/team, @user or an email address"
            )
    if o.backend_url is not None:
        url = o.backend_url
        if not isinstance(url, str) or url.startswith(("file://", "/")) or url == "file":
            raise SpecError(
                "backend",
                f"{url!r} is a local file backend: CI runners cannot read state on this machine",
                "move the state to S3 with mlplatform init --backend s3, then render again",
            )
        if not _BACKEND.match(url) or "${{" in url:
            raise SpecError(
                "backend",
                f"{url!r} is not a Pulumi backend URL CI can use",
                "use s3://BUCKET[/PREFIX] (mlplatform init --backend s3) or https://api.pulumi.com",
            )
    sp = o.secrets_provider
    if sp is not None and (not isinstance(sp, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9:/._?=&%+-]*", sp)):
        raise SpecError(
            "secretsprovider",
            f"{sp!r} cannot go into a workflow",
            "use passphrase or a KMS URL like awskms://alias/pulumi",
        )


def uses_passphrase(o: WorkflowOptions) -> bool:
    """Whether the stack's secrets need PULUMI_CONFIG_PASSPHRASE (the secrets provider decides when known)."""
    if o.secrets_provider is not None:
        return o.secrets_provider == "passphrase" or o.secrets_provider.startswith("passphrase:")
    return o.secrets == "passphrase"


def review_period_days(cron: str) -> int:
    """The days one review period covers, from its cron: daily 1, weekly 7, monthly 30 (x the month step)."""
    fields = cron.split()
    dom, month, dow = fields[2], fields[3], fields[4]
    if dom == "*" and dow == "*":
        return 1
    if dom == "*":
        return 7
    step = re.fullmatch(r"\*/(\d+)", month)
    return 30 * int(step.group(1)) if step else 30


def prometheus_url(spec: StackSpec, stack: str) -> str:
    """The stack's Prometheus inside the cluster (program.prometheus_address: one definition)."""
    from ..program import prometheus_address

    return prometheus_address(spec, stack)


def gpu_price(spec: StackSpec) -> tuple[str | None, float | None]:
    """(instance type, on-demand $/hour) of the first GPU pool's first choice, from the price file."""
    from ..analyses.cost import load_prices

    if not spec.gpu.pools:
        return None, None
    itype = spec.gpu.pools[0].instance_types[0]
    try:
        price = load_prices(spec.region).price("ec2", itype)
    except SpecError:
        return itype, None
    return itype, price.value


def _quote(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


def _expression_string(value: str) -> str:
    """A string literal inside a GitHub expression: single quotes, doubled."""
    return "'" + value.replace("'", "''") + "'"


def _environment() -> jinja2.Environment:
    # [[ ]] / [% %]: GitHub's own ${{ }} expressions pass through untouched.
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("mlplatform.stacks").joinpath("templates", "workflows", name).read_text()
        ),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
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
        raise SpecError(
            "registry.repositories",
            f"has no {MODELS_REPOSITORY!r} repository for the trained models",
            f"add {MODELS_REPOSITORY} to registry.repositories",
        )
    return f"{r.repository_prefix}/{stack}/{MODELS_REPOSITORY}"


def images_repository(spec: StackSpec, stack: str) -> str | None:
    """The `images` ECR repository the platform's own images go to: its URL when adopted, else its path (the
    workflow adds this account's host); None when the stack has none."""
    r = spec.registry
    if r.existing and IMAGES_REPOSITORY in r.existing.repository_urls:
        return r.existing.repository_urls[IMAGES_REPOSITORY]
    if IMAGES_REPOSITORY not in r.repositories:
        return None
    return f"{r.repository_prefix}/{stack}/{IMAGES_REPOSITORY}"


def workflow_context(spec: StackSpec, o: WorkflowOptions) -> dict[str, object]:
    """Everything the templates read."""
    from ..program import base_name

    has_gpu = bool(spec.gpu.pools or spec.gpu.existing)
    labels = scale_set_names(base_name(o.stack), gpu=has_gpu)
    project_dir = o.project_dir.strip("/") or "."
    in_repo = "" if project_dir == "." else f"{project_dir}/"
    gpu_type, hourly = gpu_price(spec)
    return {
        "version": metadata.version("mlplatform"),
        "images_repository": images_repository(spec, o.stack) or "",
        "platform_images": list(IMAGES),
        "stack": o.stack,
        "profile": spec.profile,
        "region": spec.region,
        "branch": o.branch,
        "project_dir": project_dir,
        "project_dir_in_repo": in_repo,
        "platform_paths": (
            [f"{in_repo}**"] if in_repo else ["Pulumi.yaml", "Pulumi.*.yaml", "__main__.py", "requirements.txt"]
        )
        + [".github/workflows/platform.yml"],
        "passphrase": uses_passphrase(o),
        "backend_url": o.backend_url or "",
        "pulumi_cloud": bool(o.backend_url and o.backend_url.startswith("https://")),
        "approval": o.approval,
        "pull_request": o.approval == "pull-request",
        "release_branch_prefix": "mlplatform/release/",
        "ledger_var": LEDGER_VAR,
        "ledger_key_var": LEDGER_KEY_VAR,
        "prometheus_url": prometheus_url(spec, o.stack),
        "prometheus_url_var": PROMETHEUS_URL_VAR,
        "review_schedule": spec.review.schedule,
        "review_due_days": spec.review.due_days,
        "review_period_days": review_period_days(spec.review.schedule),
        "gpu_instance_type": gpu_type or "",
        "gpu_hourly_price": "" if hourly is None else f"{hourly:g}",
        "gpus_per_run": 1 if has_gpu else 0,
        "actions": {a: uses(a) for a in GITHUB_ACTIONS},
        "python_version": PYTHON_VERSION,
        "hosted_runner": HOSTED_RUNNER,
        "deploy_environment": DEPLOY_ENVIRONMENT,
        "preview_environment": PREVIEW_ENVIRONMENT,
        "approval_environment": APPROVAL_ENVIRONMENT,
        "preview_role_var": PREVIEW_ROLE_VAR,
        "deploy_role_var": DEPLOY_ROLE_VAR,
        "up_timeout_minutes": UP_TIMEOUT_MINUTES,
        "gpu": has_gpu,
        "train_label": labels["gpu" if has_gpu else "cpu"],
        "publish_label": labels["cpu"],
        "mlflow_url": in_cluster_url(),
        "mlflow_version": MLFLOW_CLIENT,
        "training_image": RUNNER_IMAGE,
        "modelcar_base": MODELCAR_BASE_IMAGE,
        "experiment": o.experiment or o.model_name,
        "model_name": o.model_name,
        "model_artifact_path": o.model_artifact_path,
        "metric": o.metric,
        "greater_is_better": o.greater_is_better,
        "train_command": o.train_command,
        "requirements": o.requirements,
        "data_paths": list(o.data_paths),
        "schedule": spec.retraining.schedule,
        "train_timeout_minutes": o.train_timeout_minutes,
        "models_repository": models_repository(spec, o.stack) if spec.runners.enabled else "",
        # ModelServing: the publish job rolls released models out through these environments, in order
        "serving": spec.serving.enabled,
        "serving_environments": list(spec.serving.environments),
    }


def render_workflows(
    spec: StackSpec,
    options: WorkflowOptions | None = None,
    *,
    stack: str | None = None,
    backend_url: str | None = None,
    secrets_provider: str | None = None,
) -> dict[str, str]:
    """{file name: workflow text}. The ML workflows need the stack's runners (runners.enabled).

    `stack`, `backend_url`, `secrets_provider` (the project's stack name, Pulumi backend and secrets
    provider) override the same fields of `options` when given.
    """
    o = options or WorkflowOptions()
    given: dict[str, Any] = {
        k: v
        for k, v in (("stack", stack), ("backend_url", backend_url), ("secrets_provider", secrets_provider))
        if v is not None
    }
    if given:
        o = dataclasses.replace(o, **given)
    _validate(o)
    context = workflow_context(spec, o)
    env = _environment()
    if o.approval == "pull-request" and spec.runners.enabled and not o.model_owners:
        raise SpecError(
            "--model-owner",
            "pull-request approval needs the owners who approve model releases (CODEOWNERS of models/)",
            "pass --model-owner @org/ml-leads (repeatable), or --approval environment",
        )
    names = ["platform.yml", *(["platform-images.yml"] if images_repository(spec, o.stack) else [])]
    if spec.runners.enabled:  # the ML workflows run on the stack's runners
        names += [
            "train-evaluate.yml",
            *(["model-publish.yml"] if o.approval == "pull-request" else []),
            "model-review.yml",
        ]
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
        raise SpecError(
            "--out",
            f"{', '.join(map(str, clash))} already exist{'s' if len(clash) == 1 else ''} with other content",
            "pass --force to overwrite, or choose another --out",
        )
    todo = {p: text for p, text in targets.items() if p not in unchanged}
    previous = {p.name: p.read_text() for p in clash if p.is_file()}
    replace_all(out, {p.name: text for p, text in todo.items()}, previous, "--out")
    return list(todo), unchanged


def codeowners_text(existing: str | None, owners: list[str]) -> str:
    """CODEOWNERS with `/models/ <owners>` (marked as ours), keeping every other line as it was.

    Our marked entry is replaced in place; a `/models/` rule the user wrote with other owners is refused
    (CODEOWNERS' last match wins, so ours would silently override theirs).
    """
    if not owners:
        raise SpecError("--model-owner", "no owner given", "pass --model-owner @org/ml-leads")
    entry = f"/models/ {' '.join(owners)}"
    lines = (existing or "").splitlines()
    if CODEOWNERS_MARK in lines:
        i = lines.index(CODEOWNERS_MARK)
        if i + 1 < len(lines) and lines[i + 1].split()[:1] == ["/models/"]:
            lines[i + 1] = entry
        else:
            lines.insert(i + 1, entry)
        return "\n".join(lines) + "\n"
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if words and words[0].rstrip("*").rstrip("/") in ("models", "/models") and words[1:] != owners:
            raise SpecError(
                "--codeowners",
                f"line {n} already gives models/ to {' '.join(words[1:]) or 'nobody'}",
                "pass the same --model-owner, or remove that line",
            )
    body = "\n".join(lines)
    return (body + ("\n\n" if body.strip() else "")) + f"{CODEOWNERS_MARK}\n{entry}\n"


def codeowners_path(out_dir: str | Path) -> Path:
    """Where CODEOWNERS goes by default: beside the workflows folder (.github/CODEOWNERS)."""
    return Path(out_dir).parent / "CODEOWNERS"


def plan_codeowners(path: str | Path, owners: list[str]) -> tuple[Path, str | None]:
    """(path, new text) of CODEOWNERS with the /models/ owners; text None when the file already says so."""
    p = Path(path)
    if p.exists() and not p.is_file():
        raise SpecError("--codeowners", f"{p} is not a file", "give the CODEOWNERS file, like .github/CODEOWNERS")
    old = p.read_text() if p.is_file() else None
    new = codeowners_text(old, owners)
    return p, (None if new == old else new)


GENERATED_MARK = "# Generated by `mlplatform ci render`"


def stale_workflows(files: dict[str, str], out_dir: str | Path, force: bool = False) -> list[Path]:
    """Workflows an earlier `ci render` wrote into `out_dir` that this render does not: they would still run
    (model-publish.yml after switching to --approval environment keeps publishing merged release files).
    Refused (SpecError) unless `force`; the caller removes them after writing the new ones."""
    out = Path(out_dir)
    stale = [
        out / n
        for n in TEMPLATES
        if n not in files and (out / n).is_file() and (out / n).read_text().startswith(GENERATED_MARK)
    ]
    if stale and not force:
        raise SpecError(
            "--out",
            f"{', '.join(map(str, stale))} from an earlier render would still run",
            "pass --force to remove it, or delete it yourself",
        )
    return stale


def write_render(
    files: dict[str, str],
    out_dir: str | Path,
    *,
    owners: list[str],
    codeowners: str | Path | None = None,
    force: bool = False,
) -> tuple[list[Path], list[Path], list[Path]]:
    """Everything `ci render` writes: the workflows (`write_workflows`), the `/models/` entry of CODEOWNERS
    when model-publish.yml is rendered (default beside the workflows folder), and the removal of workflows
    an earlier render wrote that this one does not. Checks everything before writing anything.
    Returns (written, unchanged, removed)."""
    from ..files import write_atomic

    owners_file, owners_text = (
        plan_codeowners(codeowners or codeowners_path(out_dir), owners)
        if "model-publish.yml" in files
        else (None, None)
    )
    stale = stale_workflows(files, out_dir, force=force)
    written, unchanged = write_workflows(files, out_dir, force=force)
    if owners_file is not None:
        if owners_text is None:
            unchanged.append(owners_file)
        else:
            owners_file.parent.mkdir(parents=True, exist_ok=True)
            written.append(write_atomic(owners_file, owners_text, force=True, what="--codeowners"))
    for p in stale:
        p.unlink()
    return written, unchanged, stale
