"""`ci render` for the stack you are in: the StackSource's stack name (runner labels `ml-<stack>-*`),
its state backend and its secrets provider go into the workflows.

A passphrase-encrypted stack (no `secretsprovider`, or `passphrase`) makes the workflows pass the
`PULUMI_CONFIG_PASSPHRASE` repository secret; a KMS one (`awskms://...`) needs none. A local state
backend (`file://`, a folder on someone's laptop) is refused: CI cannot reach it.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from .ci import WorkflowOptions, render_workflows


def secrets_kind(secrets_provider: str | None) -> str:
    """`kms` or `passphrase`, as WorkflowOptions.secrets spells it."""
    return "passphrase" if secrets_provider in (None, "", "passphrase") else "kms"


def render_for_source(src: Any, secrets: str | None = None, **options: Any) -> dict[str, str]:
    """{file name: workflow text} for the source's stack; `options` are the other WorkflowOptions fields."""
    backend = src.backend_url
    if backend is not None and backend.startswith("file://"):
        raise SpecError(
            "backend",
            f"the state of stack {src.stack} is in a local folder ({backend}) that CI cannot reach",
            "move it to S3 first: `mlplatform init --backend s3` in the project (then `pulumi stack "
            "export | pulumi stack import` into the new backend), and render again",
        )
    if src.stack_file is not None and src.stack_file.kind == "pulumi":
        kind = secrets_kind(src.secrets_provider)
        if secrets is not None and secrets != kind:
            raise SpecError(
                "--secrets",
                f"{src.file} encrypts its secrets with {kind}, not {secrets}",
                "drop --secrets (the stack file decides)",
            )
        secrets = kind
    wanted = {"stack": src.stack, "secrets": secrets or "kms", **options}
    fields = set(WorkflowOptions.__dataclass_fields__)
    extra = {"backend_url": backend, "secrets_provider": src.secrets_provider}
    opts = WorkflowOptions(**{k: v for k, v in {**wanted, **extra}.items() if k in fields})
    return render_workflows(src.spec, opts, stack=src.stack, backend_url=backend, secrets_provider=src.secrets_provider)
