"""Rendering a Plan for people: a `pulumi preview`-like tree and a Terraform-style summary line."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlplatform.stacks.plan import Plan
from mlplatform.stacks.spec import StackSpec


def tree_rows(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(prefix, type, name, info) per resource, depth-first, with box-drawing tree prefixes."""
    by_parent: dict[str | None, list] = {}
    for r in plan.resources:
        by_parent.setdefault(r.parent, []).append(r)
    rows: list[tuple[str, str, str, str]] = []

    def walk(parent: str | None, indent: str) -> None:
        kids = by_parent.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            info = ", ".join(x for x, on in (("protected", r.protect), ("retained", r.retain_on_delete)) if on)
            rows.append((indent + branch, r.type, r.name, info))
            walk(r.urn, indent + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    return rows


def print_plan(plan: Plan, spec: StackSpec, stack: str, console: Console | None = None) -> None:
    rows = tree_rows(plan)
    if console is None:
        # A plan is read like a log: never wrap a row, even in a narrow or piped terminal.
        needed = max((len(p) + len(t) + len(n) + len(i) + 12 for p, t, n, i in rows), default=80)
        console = Console(width=max(needed, Console().width))
    console.print(f"Offline plan of stack [bold]{stack}[/]: profile [bold]{spec.profile}[/], region {spec.region} "
                  "(mock engine: no cloud calls, no credentials)\n")
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column(" ", style="green")
    table.add_column("Type")
    table.add_column("Name")
    table.add_column("Info", style="yellow")
    for prefix, type_, name, info in rows:
        table.add_row("+", Text(prefix, style="dim") + Text(type_), name, info)
    console.print(table)
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"\n[bold]Plan:[/] {len(plan.resources)} to add.")
