"""`mlplatform check`: a stack's security and reliability, offline (built-in rules and scanners)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .. import options as o
from .. import printers

if TYPE_CHECKING:
    from mlplatform.stacks.source import StackSource


@click.command()
@o.stack_source(
    plan=o.saved_plan_option("Check a saved plan (`mlplatform plan --json --out FILE`) instead of planning.")
)
@o.json_option("Machine-readable report.")
@click.option(
    "--sarif",
    "sarif_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the findings as SARIF 2.1.0 (GitHub code scanning) to this file.",
)
@o.force_option("Overwrite --sarif if it exists.")
@click.option(
    "--no-scanners", is_flag=True, help="Only the built-in rules: skip checkov, kubernetes-validate and parliament."
)
def check(src: StackSource, as_json: bool, sarif_file: str | None, force: bool, no_scanners: bool) -> None:
    """Check, offline, a stack's security and reliability: built-in rules, checkov, kubernetes-validate, parliament.

    Exits 3 when a high finding is not waived. Waive a finding in the stack config:
    `waivers: [{rule: ..., resource: ..., reason: ...}]`.
    """
    import json

    from mlplatform.stacks.analyses.check import check as run_check
    from mlplatform.stacks.analyses.check import stack_waivers
    from mlplatform.stacks.files import check_writable, write_atomic

    if sarif_file:
        check_writable(sarif_file, force=force, what="--sarif")  # refused before planning and scanning
    if not as_json:
        printers.say_source(src)
    progress = printers.progress("check: planning and scanning") if not as_json else None
    try:
        from mlplatform.stacks.project.serving_check import serving_findings

        report = run_check(
            src.plan(),
            stack_waivers(src.spec),
            region=src.region,
            scanners=not no_scanners,
            # the pods `serve render` would run for the served models (not in the Plan)
            extra=[] if src.kind == "plan" else serving_findings(src.spec, src.stack, src.plan()),
        )
    finally:
        if progress is not None:
            progress.stop()
    if sarif_file:
        artifact = str(src.file) if src.file else "Pulumi.yaml"
        write_atomic(sarif_file, json.dumps(report.to_sarif(artifact), indent=2) + "\n", force=force, what="--sarif")
    if as_json:
        printers.emit_json(report.to_dict(), src)
    else:
        printers.print_report(report)
    if report.exit_code:
        sys.exit(report.exit_code)
