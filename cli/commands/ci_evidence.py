"""`mlplatform ci …` commands the generated workflows call to turn GitHub API responses into evidence.

Each reads the API responses the workflow saved to files and prints what the next step needs; the
predicates go to `mlplatform evidence record KIND --predicate FILE` (the evidence CLI is the only
writer). The logic lives in `mlplatform.stacks.project.promotion`. They raise `mlplatform.stacks.errors`
types, which `MlplatformGroup` (cli/main.py) maps to exit codes: 0 ok, 1 bad input (`SpecError`: one line
naming the option and the fix), 3 refused (`NotApproved`, exit_code 3: merged without approval, a direct
push, an issue the review workflow did not open): nothing is to be published or recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _read_json(option: str, path: str) -> Any:
    from mlplatform.stacks.errors import SpecError

    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise SpecError(option, f"cannot read {path}: {e.strerror}", "pass the file the workflow saved") from None
    except json.JSONDecodeError as e:
        raise SpecError(
            option, f"{path} is not JSON ({e.msg}, line {e.lineno})", "pass the GitHub API response as saved"
        ) from None


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group("evidence-predicate")
def evidence_predicate() -> None:
    """Build an evidence predicate (JSON on stdout) from saved GitHub API responses."""


@evidence_predicate.command("approval")
@click.option("--pull", "pull_file", type=click.Path(dir_okay=False), help="GET /repos/{o}/{r}/pulls/{n} response.")
@click.option(
    "--reviews",
    "reviews_file",
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/pulls/{n}/reviews response (or gh api --paginate --slurp pages).",
)
@click.option(
    "--approvals",
    "approvals_file",
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/actions/runs/{id}/approvals response (--approval environment).",
)
@click.option("--environment", default="model-promotion", show_default=True, help="The approval environment.")
@click.option("--run-id", default=None, help="The workflow run (with --approvals).")
@click.option("--run-url", default=None, help="The workflow run's URL (with --approvals).")
@click.option("--when", default=None, help="When the approved job started, ISO 8601 (with --approvals; default now).")
def approval(
    pull_file: str | None,
    reviews_file: str | None,
    approvals_file: str | None,
    environment: str,
    run_id: str | None,
    run_url: str | None,
    when: str | None,
) -> None:
    """The approval predicate: from a merged pull request's reviews, or a run's environment approvals."""
    from mlplatform.stacks.errors import SpecError
    from mlplatform.stacks.project.promotion import (
        approval_from_environment,
        approval_from_pull_request,
        now_utc,
    )

    if approvals_file:
        if pull_file or reviews_file:
            raise SpecError(
                "--approvals", "given with --pull/--reviews", "pass either the pull request or the approvals"
            )
        _emit(
            approval_from_environment(
                _read_json("--approvals", approvals_file),
                environment,
                {"id": run_id, "url": run_url},
                when or now_utc(),
            )
        )
        return
    if not (pull_file and reviews_file):
        raise SpecError(
            "--pull",
            "needs --pull and --reviews (or --approvals)",
            "save the pull request and its reviews from the GitHub API and pass both",
        )
    _emit(approval_from_pull_request(_read_json("--pull", pull_file), _read_json("--reviews", reviews_file)))


@evidence_predicate.command("review")
@click.option(
    "--issue",
    "issue_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/issues/{n} response.",
)
@click.option(
    "--events",
    "events_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/issues/{n}/timeline (or /events) response.",
)
@click.option(
    "--subject-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Append model=… and digest=… lines to this file (e.g. $GITHUB_OUTPUT).",
)
def review(issue_file: str, events_file: str, subject_out: str | None) -> None:
    """The review predicate of a closed model-review issue (keep, retrain or retire)."""
    from mlplatform.stacks.project.promotion import review_from_issue

    model, digest, predicate = review_from_issue(_read_json("--issue", issue_file), _read_json("--events", events_file))
    if subject_out:
        with open(subject_out, "a") as f:
            f.write(f"model={model}\ndigest={digest}\n")
    _emit(predicate)


@click.command("merged-pull")
@click.option(
    "--pulls",
    "pulls_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/commits/{sha}/pulls response.",
)
@click.option("--sha", required=True, help="The pushed commit (github.sha).")
@click.option("--base", required=True, help="The branch it was pushed to.")
def merged_pull(pulls_file: str, sha: str, base: str) -> None:
    """Print the number of the merged pull request that put SHA on BASE; exit 3 for a direct push."""
    from mlplatform.stacks.project.promotion import merged_pull_for_commit

    click.echo(merged_pull_for_commit(_read_json("--pulls", pulls_file), sha, base)["number"])


@click.command("released-models")
@click.option(
    "--files",
    "files_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="GET /repos/{o}/{r}/pulls/{n}/files response.",
)
def released_models_cmd(files_file: str) -> None:
    """Print the models whose models/<name>/release.yaml the pull request changed, one per line."""
    from mlplatform.stacks.errors import SpecError
    from mlplatform.stacks.project.promotion import released_models

    names = released_models(_read_json("--files", files_file))
    if not names:
        raise SpecError(
            "--files",
            "the pull request changes no models/<name>/release.yaml",
            "nothing to publish: release files change through the promotion pull request",
        )
    click.echo("\n".join(names))


def register(group: click.Group) -> None:
    """Add these commands to the `ci` group."""
    for command in (evidence_predicate, merged_pull, released_models_cmd):
        group.add_command(command)
