"""Rendering a Plan for people: a `pulumi preview`-like tree and a Terraform-style summary line."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlplatform.stacks.config.spec import StackSpec
from mlplatform.stacks.plan.offline import Plan


class PipedConsole(Console):
    """A Rich console sized the usual way (the terminal, or COLUMNS); when the output is not a terminal,
    lines are written without trailing padding (a log or a file reads clean)."""

    def print(self, *objects, **kwargs) -> None:
        if self.is_terminal or self._buffer_index:
            return super().print(*objects, **kwargs)
        with self.capture() as captured:
            super().print(*objects, **kwargs)
        text = captured.get()
        self.file.write("\n".join(line.rstrip() for line in text.split("\n")))
        self.file.flush()


def console_for(needed: int = 0, **kwargs) -> Console:
    """A console at least `needed` wide when piped without COLUMNS (rows of a plan are never wrapped);
    in a terminal or with COLUMNS set, that width is honoured."""
    import os

    probe = Console()
    width = probe.width if (probe.is_terminal or os.environ.get("COLUMNS")) else max(needed, probe.width)
    return PipedConsole(width=width, **kwargs)


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
        # Columns size to their longest cell, so the width needed is the sum of the column maxima.
        needed = (
            sum(
                max((len(c) for c in col), default=0)
                for col in ([p + t for p, t, _, _ in rows], [n for _, _, n, _ in rows], [i for *_, i in rows])
            )
            + 16
        )
        console = console_for(needed)
    console.print(
        f"Offline plan of stack [bold]{stack}[/]: profile [bold]{spec.profile}[/], region {spec.region} "
        "(mock engine: no cloud calls, no credentials)\n"
    )
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


# -- diff, cost, upgrade (issue 7) -------------------------------------------------------------------
_OP_MARK = {"create": ("+", "green"), "update": ("~", "yellow"), "replace": ("+-", "magenta"), "delete": ("-", "red")}


def _wide_console(lines: list[str] | None = None) -> Console:
    """A console that never wraps a row (diffs and cost tables are read like logs)."""
    needed = max((len(x) + 8 for x in lines or []), default=80)
    return console_for(max(needed, 120), highlight=False)


def _value(v: object, limit: int = 160) -> str:
    import json

    text = v if isinstance(v, str) else json.dumps(v, default=str)
    text = f'"{text}"' if isinstance(v, str) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _money(x: float | None) -> str:
    return "gap" if x is None else f"${x:,.2f}"


def cost_delta_lines(before, after) -> list[str]:  # CostReport, CostReport
    """'idle $A → $B (+$C)' and the same with usage, for diff and upgrade."""

    def delta(a: float, b: float) -> str:
        return f"{'+' if b >= a else '-'}${abs(b - a):,.2f}"

    out = [
        f"idle {_money(before.idle)} → {_money(after.idle)} ({delta(before.idle, after.idle)})",
        f"with the usage file {_money(before.monthly)} → {_money(after.monthly)} "
        f"({delta(before.monthly, after.monthly)})",
    ]
    gaps = len(before.gaps) + len(after.gaps)
    if gaps:
        out.append(f"{gaps} price gap(s) left out of these totals (see `mlplatform cost`)")
    return out


def _list_rows(old: list, new: list) -> list[tuple[str, str]]:
    """`- x` for each element gone, `+ y` for each one added (by value), or that only the order changed."""
    import json

    key = lambda v: json.dumps(v, sort_keys=True, default=str)  # noqa: E731
    before, after = [key(v) for v in old], [key(v) for v in new]
    rows = [(f"          - {_value(v)}", "red") for v, k in zip(old, before, strict=True) if k not in after]
    rows += [(f"          + {_value(v)}", "green") for v, k in zip(new, after, strict=True) if k not in before]
    return rows or [("          (same elements, order changed)", "dim")]


def print_diff(d, costs=None, console: Console | None = None) -> None:  # PlanDiff, (CostReport, CostReport)
    """A `pulumi preview --diff`-like listing, data loss and disruption apart, cost delta, summary line."""
    from mlplatform.stacks.analyses.diff import ENGINE_NOTE

    rows: list[tuple[str, str]] = []
    for r in d.resources:
        mark, colour = _OP_MARK[r.op]
        tags = [t for t, on in (("stateful", r.stateful), ("protected", r.protect_new or r.protect_old)) if on]
        head = f"{mark} {r.type}  {r.name}"
        if r.op == "replace":
            head += f"  replace ({', '.join(r.replace_reasons)})"
        if tags:
            head += f"  [{', '.join(tags)}]"
        rows.append((head, colour))
        for c in r.changes:
            sign = {"add": "+", "delete": "-", "update": "~"}[c.kind]
            if c.kind == "add":
                text = f"{c.path}: {_value(c.new)}"
            elif c.kind == "delete":
                text = f"{c.path}: {_value(c.old)}"
            elif isinstance(c.old, list) and isinstance(c.new, list):  # element by element, never two truncated lists
                rows.append(
                    (
                        f"      {sign} {c.path}:" + ("   (forces replacement)" if c.replaces else ""),
                        "magenta" if c.replaces else "",
                    )
                )
                rows += _list_rows(c.old, c.new)
                continue
            else:
                text = f"{c.path}: {_value(c.old)} => {_value(c.new)}"
            rows.append(
                (
                    f"      {sign} {text}" + ("   (forces replacement)" if c.replaces else ""),
                    "magenta" if c.replaces else "",
                )
            )
        for n in r.notes:
            rows.append((f"      note: {n}", "dim"))
    console = console or _wide_console([t for t, _ in rows])
    console.print(
        f"Offline diff: [bold]{d.from_label}[/] → [bold]{d.to_label}[/] ({d.unchanged} resources unchanged)\n"
    )
    for text, colour in rows:
        console.print(Text(text, style=colour))
    if d.empty:
        console.print("No changes.")
    console.print()
    loss = d.data_loss
    if loss:
        console.print("[bold red]Data loss:[/] these stateful resources would be replaced or deleted:")
        for r in loss:
            console.print(
                Text(f"  {r.op.upper()} {r.type} {r.name} ({', '.join(r.replace_reasons) or r.urn})", style="red")
            )
    else:
        console.print("Data loss: none (no stateful resource is replaced or deleted).")
    if d.disruptions:
        console.print("[bold yellow]Disruption[/] (downtime, no data loss):")
        for r in d.disruptions:
            for what in r.disruption:
                console.print(Text(f"  {r.type} {r.name}: {what}", style="yellow"))
    if d.unknown_types:
        console.print(
            f"[yellow]Not in the create-only table (replacements not predicted):[/] {', '.join(d.unknown_types)}"
        )
    if costs is not None:
        before, after = costs
        console.print(f"Monthly cost ({after.region}): " + "; ".join(cost_delta_lines(before, after)))
    console.print(f"\n[bold]{d.summary_line()}[/]")
    console.print(Text(ENGINE_NOTE, style="dim"))


def print_cost(report, console: Console | None = None) -> None:  # CostReport
    """An Infracost-like breakdown: per component and resource, totals, $/GPU-hour, gaps."""
    table = Table(
        title=f"Monthly cost — profile {report.profile or '?'}, {report.region} "
        f"(prices of {report.snapshot_date}, 730 h/month, USD)",
        show_lines=False,
    )
    for col, just in (
        ("Component / resource", "left"),
        ("Cost item", "left"),
        ("Kind", "left"),
        ("Quantity", "right"),
        ("Unit price", "right"),
        ("Monthly", "right"),
    ):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    by_comp = report.by_component()
    free = 0
    for comp in by_comp:
        priced = [r for r in report.resources if r.component == comp and r.lines]
        free += sum(1 for r in report.resources if r.component == comp and not r.lines)
        if priced:
            table.add_row(f"[bold]{comp}[/]", "", "", "", "", "")
        for r in priced:
            for line in r.lines:
                label = f"  {r.type.rsplit(':', 1)[-1]} {r.name}"
                table.add_row(
                    label,
                    line.what,
                    line.kind,
                    f"{line.quantity:,.4g} {line.unit}",
                    "gap" if line.unit_price is None else f"${line.unit_price:,.4g}",
                    _money(line.monthly) if line.status == "ok" else line.status,
                )
        totals = by_comp[comp]
        if totals["monthly"]:
            table.add_row(
                "",
                f"[dim]{comp} total[/]",
                "",
                "",
                "",
                f"[dim]idle {_money(totals['idle'])} / {_money(totals['monthly'])}[/]",
            )
    console = console or console_for(150, highlight=False)
    console.print(table)
    console.print(
        Text.assemble(
            ("Idle: ", "bold"),
            report.headline(idle=True),
            " (always-on resources and volumes; GPU pools and runners at their minimum)",
        )
    )
    console.print(Text.assemble(("With the usage file: ", "bold"), report.headline(idle=False)))
    console.print(
        f"{free} resources cost nothing by themselves (IAM, routes, Kubernetes objects, ...); "
        "`--json` lists each with the reason."
    )
    if report.gpu_hours:
        gt = Table(title="Price of one GPU-hour", show_lines=False)
        for col in ("Pool", "Instance type", "GPUs", "Capacity", "On-demand $/GPU-h", "Spot $/GPU-h (range)", "Note"):
            gt.add_column(col)
        for g in report.gpu_hours:
            spot = "—" if g.spot_low is None else f"{g.spot_low:.3f}–{g.spot_high:.3f}"
            gt.add_row(
                g.pool,
                g.instance_type,
                str(g.gpus or "?"),
                g.capacity,
                "gap" if g.on_demand is None else f"{g.on_demand:.3f}",
                spot,
                g.note,
            )
        console.print(gt)
    if report.gaps:
        console.print(
            f"[yellow]{len(report.gaps)} price gap(s), left out of the totals[/] (no sourced price in the "
            f"price file; `--live-prices` asks the AWS Price List API):"
        )
        for r, line in report.gaps:
            console.print(Text(f"  {r.type} {r.name}: {line.what} [{line.price_key}: {line.status}]", style="yellow"))
    if report.uncovered:
        console.print(f"[red]Not priced and not known to be free:[/] {', '.join(report.uncovered)}")
