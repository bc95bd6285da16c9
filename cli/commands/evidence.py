"""`mlplatform evidence record|log|at|verify|observe|public-key`: the chain of evidence.

Options only; the ledger logic is in `mlplatform.stacks.evidence`. The ledger is `--ledger
s3://BUCKET[/PREFIX]` (env MLPLATFORM_LEDGER) signed with `--key KEY_ID_OR_ARN` (env
MLPLATFORM_LEDGER_KEY); without them, the stack outputs `evidence_bucket` / `evidence_key` of the
project in `--dir` (needs the pulumi CLI). boto3's standard credential and endpoint settings apply
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).

Exit codes: 0 ok; 1 a domain error (missing ledger, bad time, unknown model, AWS refused): one line;
2 usage; 3 `verify` found breaks (one line each).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.evidence.ledger import Ledger


def evidence_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An AWS refusal as the ledger's one line (which call, AWS's code, the policy to check); every other
    error goes to the one mapping (`cli.main.MlplatformGroup`: one line, its exit code)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        from mlplatform.stacks.errors import MlplatformError

        try:
            return fn(*args, **kwargs)
        except ClientError as e:
            err = e.response.get("Error", {})
            raise MlplatformError(
                f"aws {e.operation_name}",
                f"{err.get('Code')}: {err.get('Message') or ''}".rstrip(": "),
                "check the role's evidence reader/writer policy and --ledger/--key",
            ) from e

    return wrapper


def ledger_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = o.as_json(fn)
    fn = click.option("--stack", default=None, help="With --dir: the stack whose outputs name the ledger.")(fn)
    fn = click.option(
        "--dir",
        "directory",
        default=".",
        type=click.Path(file_okay=False),
        show_default=True,
        help="Without --ledger: the Pulumi project whose stack outputs evidence_bucket/evidence_key "
        "name the ledger (needs the pulumi CLI).",
    )(fn)
    fn = click.option(
        "--region", default=None, envvar="AWS_REGION", help="AWS region of the ledger (default: boto3's)."
    )(fn)
    fn = click.option(
        "--key",
        "key_id",
        default=None,
        envvar="MLPLATFORM_LEDGER_KEY",
        metavar="KEY_ID_OR_ARN",
        help="KMS signing key (ECC_NIST_P256, SIGN_VERIFY); env MLPLATFORM_LEDGER_KEY.",
    )(fn)
    fn = click.option(
        "--ledger",
        "ledger_url",
        default=None,
        envvar="MLPLATFORM_LEDGER",
        metavar="s3://BUCKET[/PREFIX]",
        help="Where the ledger is; env MLPLATFORM_LEDGER.",
    )(fn)
    return fn


def _open_ledger(
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    *,
    header: bool = False,
) -> Ledger:
    """The ledger `ledger_options` name: --ledger/--key, else the stack outputs of the --dir project.

    `header=True` (pass `not as_json`) then says which ledger it is; `log` and `at` say it only with their
    answer, `record` on stderr once the key is known (`_header`)."""
    from mlplatform.stacks.evidence.ledger import Ledger

    source = ""
    if not ledger_url:
        from mlplatform.stacks.config.stackfile import find_project

        found = find_project(directory)
        if found is not None and found.exists:  # a Pulumi.yaml: read its stack's outputs
            from mlplatform.stacks.cloud import engine as workspace
            from mlplatform.stacks.config.stackfile import stack_name_of
            from mlplatform.stacks.source import project_stack

            # --stack's, else the only stack; several or none is the same error every command gives
            name = stack_name_of(project_stack(found, stack))
            project = workspace.load_project(directory, name)
            outputs = dict(workspace.outputs(project))
            ledger_url = f"s3://{outputs['evidence_bucket']}" if outputs.get("evidence_bucket") else None
            key_id = key_id or outputs.get("evidence_key")
            region = region or project.region
            source = f" from the outputs of stack {name} ({directory})"
    ledger = Ledger(ledger_url, key_id=key_id, region=region)
    ledger.source = source
    if header:
        printers.ledger_header(ledger, as_json=False)
    return ledger


allow_unprotected_option = click.option(
    "--allow-unprotected-ledger",
    "allow_unprotected",
    is_flag=True,
    help="Write even when the ledger bucket is not versioned with Object Lock (a loud warning; default: refuse, exit 3).",
)


def _unprotected(ledger: Any, allow: bool) -> None:
    """--allow-unprotected-ledger: the ledger warns on stderr, before it writes, instead of refusing."""
    ledger.allow_unprotected = allow
    ledger.warn = lambda message: click.echo(f"WARNING: {message}", err=True)


def _output(as_json: bool, data: dict[str, Any], human: Callable[[], None], ledger: Ledger | None = None) -> None:
    """The tail of the evidence commands: with --json `data` as indented JSON (after `"ledger": URL` when
    given the ledger), else `human()` prints the table or lines."""
    if as_json:
        click.echo(json.dumps(data if ledger is None else {"ledger": ledger.location.url, **data}, indent=2))
    else:
        human()


@click.group()
def evidence() -> None:
    """The chain of evidence: which model was live when, trained on what, approved by whom."""


@evidence.command("record")
@click.argument(
    "kind",
    metavar="KIND",
    type=click.Choice(["provenance", "evaluation", "approval", "deployment", "observation", "review", "rollback"]),
)
@click.option("--model", required=True, help="The model (MLflow registered model / OCI tag prefix).")
@click.option("--digest", required=True, metavar="sha256:HEX", help="Digest of the model's OCI manifest.")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="A predicate field, e.g. commit=$GITHUB_SHA (the full 40/64-hex SHA), metric.val_loss=0.21, by=alice "
    "(repeatable).",
)
@click.option(
    "--predicate",
    "predicate_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A JSON predicate; --field values are merged into it.",
)
@allow_unprotected_option
@ledger_options
@evidence_errors
def record(
    kind: str,
    model: str,
    digest: str,
    fields: tuple[str, ...],
    predicate_file: str | None,
    allow_unprotected: bool,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """Sign and append a KIND record about the model artifact DIGEST; prints the record's key.

    KIND is provenance, evaluation, approval, deployment, observation or review.

    The ledger line goes to stderr, so `KEY=$(mlplatform evidence record ...)` gets the key alone.
    """
    from mlplatform.stacks.evidence import records as R

    R.check_model(model)
    R.check_digest(digest)
    predicate = R.build_predicate(kind, digest, R.parse_fields(fields), R.read_predicate(predicate_file))
    ledger = _open_ledger(ledger_url, key_id, region, directory, stack)
    _unprotected(ledger, allow_unprotected)
    ledger.signer  # noqa: B018 - no key: one line before anything else
    printers.ledger_header(ledger, as_json, err=True)
    rec = ledger.append(kind, model, [digest], predicate)
    _output(
        as_json,
        {"key": rec.key, "seq": rec.seq, "record_digest": rec.digest, "kind": kind, "model": model, "subject": digest},
        lambda: click.echo(rec.key),
        ledger,
    )


@evidence.command("log")
@click.option("--model", required=True, help="The model whose timeline to show.")
@ledger_options
@evidence_errors
def log(
    model: str,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """The model's timeline, oldest first: time, kind, digest, who, summary."""
    from mlplatform.stacks.evidence.audit import timeline

    ledger = _open_ledger(ledger_url, key_id, region, directory, stack)
    rows = timeline(ledger, model)
    _output(as_json, {"model": model, "records": rows}, lambda: printers.print_timeline(ledger, model, rows), ledger)


@evidence.command("at")
@click.argument("time")
@click.option("--model", required=True, help="The model.")
@click.option("--environment", default="production", show_default=True, help="Environment (the alias).")
@ledger_options
@evidence_errors
def at(
    time: str,
    model: str,
    environment: str,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """What was live at TIME (ISO 8601; no zone means UTC): digest, version, live since, approved by,
    trained from, evaluation metrics."""
    from mlplatform.stacks.evidence import records as R
    from mlplatform.stacks.evidence.audit import live_at

    when = R.parse_time(time, "TIME")
    R.check_model(model)
    ledger = _open_ledger(ledger_url, key_id, region, directory, stack)
    answer = live_at(ledger, model, when, environment)
    _output(as_json, answer, lambda: printers.print_live(ledger, model, environment, answer), ledger)


@evidence.command("verify")
@click.option("--model", default=None, help="Only this model (default: every model of the ledger).")
@click.option(
    "--review-days",
    type=int,
    default=38,
    show_default=True,
    help="A live model whose last review (or deployment, if never reviewed) is older is overdue.",
)
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Verify with this public key (PEM or DER) instead of asking KMS for it: an auditor needs "
    "only read access to the bucket.",
)
@ledger_options
@evidence_errors
def verify(
    model: str | None,
    review_days: int,
    public_key_file: str | None,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """Signatures valid, chains unbroken, no record written twice, deployments approved and traced,
    observations agree with deployments, reviews not overdue. Exit 3 with a line per break."""
    from pathlib import Path

    from mlplatform.stacks.evidence.audit import verify as run_verify

    pub = Path(public_key_file).read_bytes() if public_key_file else None
    if pub is not None:
        from mlplatform.stacks.evidence.dsse import load_public_key

        load_public_key(pub, public_key_file)  # a wrong file is named before the ledger is read
    ledger = _open_ledger(ledger_url, key_id, region, directory, stack, header=not as_json)
    report = run_verify(ledger, model, public_key=pub, review_days=review_days)
    _output(as_json, report.to_dict(), lambda: printers.print_breaks(report))
    if report.breaks:
        from mlplatform.stacks.errors import EXIT_POLICY

        sys.exit(EXIT_POLICY)  # breaks found, each on its own line above


@evidence.command("observe")
@click.option(
    "--pods",
    "pods_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A recorded `kubectl get pods -A -l mlplatform.io/model -o json` (default: the in-cluster API).",
)
@click.option("--cluster", default=None, envvar="MLPLATFORM_CLUSTER", help="Cluster name written into observations.")
@allow_unprotected_option
@ledger_options
@evidence_errors
def observe(
    pods_file: str | None,
    cluster: str | None,
    allow_unprotected: bool,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """Record what runs: an observation per model and environment whose running digests changed."""
    from mlplatform.stacks.evidence.observer import list_pods_in_cluster, read_pods
    from mlplatform.stacks.evidence.observer import observe as run_observe

    pods = read_pods(pods_file) if pods_file else list_pods_in_cluster()
    ledger = _open_ledger(ledger_url, key_id, region, directory, stack, header=not as_json)
    _unprotected(ledger, allow_unprotected)
    result = run_observe(ledger, pods, cluster=cluster)
    written = result.recorded
    for w in result.warnings():
        click.echo(f"warning: {w}", err=True)
    data = {
        "recorded": [
            {
                "key": r.key,
                "model": r.model,
                "environment": r.environment,
                "running": [d for d in (x.get("sha256") for x in r.predicate.get("running", []))],
            }
            for r in written
        ],
        "unresolved": [f"{p.namespace}/{p.name}" for p in result.unresolved],
    }
    _output(as_json, data, lambda: printers.print_recorded(written), ledger)


@evidence.command("public-key")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the PEM here (default: stdout).")
@o.force_option("Overwrite --out if it exists.")
@ledger_options
@evidence_errors
def public_key(
    out: str | None,
    force: bool,
    ledger_url: str | None,
    key_id: str | None,
    region: str | None,
    directory: str,
    stack: str | None,
    as_json: bool,
) -> None:
    """The signing key's public key (PEM): what an auditor verifies the ledger with."""
    import boto3

    from mlplatform.stacks.evidence import EvidenceError
    from mlplatform.stacks.evidence.dsse import load_public_key, public_key_pem
    from mlplatform.stacks.files import write_atomic

    if not key_id and ledger_url is None:
        key_id = _open_ledger(None, None, region, directory, stack).key_id if _has_project(directory) else None
    if not key_id:
        raise EvidenceError(
            "--key",
            "no signing key given",
            "pass --key KEY_ID_OR_ARN or set MLPLATFORM_LEDGER_KEY (stack output evidence_key)",
        )
    r = boto3.session.Session(region_name=region).client("kms").get_public_key(KeyId=key_id)
    pem = public_key_pem(load_public_key(r["PublicKey"]))
    arn = r["KeyId"]
    if out:
        write_atomic(out, pem, force=force, what="--out")
        click.echo(json.dumps({"key": arn, "written": out}) if as_json else f"wrote {out} (public key of {arn})")
    elif as_json:
        click.echo(json.dumps({"key": arn, "pem": pem}))
    else:
        click.echo(pem, nl=False)


def _has_project(directory: str) -> bool:
    """`directory` holds a Pulumi project file (what `find_project` reads)."""
    from mlplatform.stacks.config.stackfile import find_project

    found = find_project(directory)
    return found is not None and found.exists
