"""Every printer of the CLI in one place: rich tables and trees for people, JSON for machines.

The commands (cli/commands/) parse options and call `mlplatform.stacks`; what they show goes through
here: the stack line every output starts with (`say_source`), `--json` documents (`emit_json`, carrying
`source`), the plan tree, diffs, cost tables, findings and reports.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # rich and the stack code load when a printer runs (`--help` and the observer need neither)
    from rich.console import Console

    from mlplatform.stacks.analyses.check import Report as CheckReport
    from mlplatform.stacks.analyses.cost import CostReport
    from mlplatform.stacks.analyses.diff import PlanDiff
    from mlplatform.stacks.cloud.doctor import Finding
    from mlplatform.stacks.cloud.engine import DestroyPlan
    from mlplatform.stacks.config.spec import StackSpec
    from mlplatform.stacks.evidence.audit import VerifyReport
    from mlplatform.stacks.evidence.ledger import Ledger, Record
    from mlplatform.stacks.plan.offline import Plan, PlannedResource
    from mlplatform.stacks.project.team import TeamChange
    from mlplatform.stacks.source import StackSource


@cache
def _piped_console() -> type[Console]:
    from rich.console import Console

    class PipedConsole(Console):
        """A Rich console sized the usual way (the terminal, or COLUMNS); when the output is not a terminal,
        lines are written without trailing padding (a log or a file reads clean)."""

        def print(self, *objects: Any, **kwargs: Any) -> None:
            if self.is_terminal or self._buffer_index:
                return super().print(*objects, **kwargs)
            with self.capture() as captured:
                super().print(*objects, **kwargs)
            text = captured.get()
            self.file.write("\n".join(line.rstrip() for line in text.split("\n")))
            self.file.flush()

    return PipedConsole


def console_for(needed: int = 0, **kwargs) -> Console:
    """A console at least `needed` wide when piped without COLUMNS (rows of a plan are never wrapped);
    in a terminal or with COLUMNS set, that width is honoured."""
    import os

    from rich.console import Console

    probe = Console()
    width = probe.width if (probe.is_terminal or os.environ.get("COLUMNS")) else max(needed, probe.width)
    return _piped_console()(width=width, **kwargs)


Row = tuple[str, str, str, str, str, "PlannedResource"]


def _walk(plan: Plan) -> list[Row]:
    """(prefix, type, name, info, under, resource) per resource, depth-first, with box-drawing tree
    prefixes; `under` is the prefix of lines printed below the row (its name line, its inputs)."""
    by_parent: dict[str | None, list] = {}
    for r in plan.resources:
        by_parent.setdefault(r.parent, []).append(r)
    rows: list[Row] = []

    def walk(parent: str | None, indent: str) -> None:
        kids = by_parent.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            info = ", ".join(x for x, on in (("protected", r.protect), ("retained", r.retain_on_delete)) if on)
            child_indent = indent + ("" if parent is None else ("   " if last else "│  "))
            under = child_indent + ("│  " if by_parent.get(r.urn) else "   ")
            rows.append((indent + branch, r.type, r.name, info, under, r))
            walk(r.urn, child_indent)

    walk(None, "")
    return rows


def _short_value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def print_plan(plan: Plan, spec: StackSpec, stack: str, console: Console | None = None, details: bool = False) -> None:
    """The plan as a tree, one row per resource. When a row does not fit the width (COLUMNS=80), each
    resource takes two lines (`+ prefix type`, then its name and info) and what still does not fit is cut
    with `…`, never wrapped; `details` prints each resource's inputs under its row."""
    from rich.table import Table
    from rich.text import Text

    rows = _walk(plan)
    # Columns size to their longest cell, so the width needed is the sum of the column maxima.
    needed = (
        sum(
            max((len(c) for c in col), default=0)
            for col in ([p + t for p, t, *_ in rows], [r[2] for r in rows], [r[3] for r in rows])
        )
        + 16
    )
    if console is None:
        console = console_for(needed)  # piped without COLUMNS: as wide as a row needs
    console.print(
        f"Offline plan of stack [bold]{stack}[/]: profile [bold]{spec.profile}[/], region {spec.region} "
        "(mock engine: no cloud calls, no credentials)\n"
    )
    if needed <= console.width and not details:
        table = Table(box=None, pad_edge=False, show_edge=False)
        table.add_column(" ", style="green")
        table.add_column("Type")
        table.add_column("Name")
        table.add_column("Info", style="yellow")
        for prefix, type_, name, info, *_ in rows:
            table.add_row("+", Text(prefix, style="dim") + Text(type_), name, info)
        console.print(table)
    else:
        _print_tree_lines(rows, console, two_lines=needed > console.width, details=details)
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"\n[bold]Plan:[/] {len(plan.resources)} to add.")


def _print_tree_lines(rows: list[Row], console: Console, two_lines: bool, details: bool) -> None:
    from rich.text import Text

    def line(*parts: tuple[str, str]) -> None:
        console.print(Text.assemble(*parts), no_wrap=True, overflow="ellipsis", crop=True)

    width_type = max((len(p + t) for p, t, *_ in rows), default=0)
    width_name = max((len(r[2]) for r in rows), default=0)
    for prefix, type_, name, info, under, r in rows:
        if two_lines:
            line(("+ ", "green"), (prefix, "dim"), (type_, ""))
            line(("  ", ""), (under, "dim"), (name, "bold"), (f"  {info}" if info else "", "yellow"))
        else:
            line(
                ("+ ", "green"),
                (prefix, "dim"),
                (type_.ljust(width_type - len(prefix)), ""),
                ("  " + name.ljust(width_name), ""),
                (f"  {info}" if info else "", "yellow"),
            )
        if details:
            for key, value in sorted(r.inputs.items()):
                line(("  ", ""), (under, "dim"), (f"    {key}: ", "cyan"), (_short_value(value), ""))


def print_resource(r: PlannedResource) -> None:
    """`plan --show`: one resource's options and inputs, as YAML (never wrapped: it is copied from)."""
    import yaml

    options = {
        "urn": r.urn,
        "parent": r.parent,
        "protect": r.protect,
        "retain_on_delete": r.retain_on_delete,
        "depends_on": r.depends_on,
        "ignore_changes": r.ignore_changes,
        "replace_on_changes": r.replace_on_changes,
        "delete_before_replace": r.delete_before_replace,
        "aliases": r.aliases,
        "provider": r.provider,
    }
    click.echo(f"{r.type}  {r.name}")
    click.echo(yaml.safe_dump({"options": options}, sort_keys=False, width=10_000).rstrip())
    click.echo(yaml.safe_dump({"inputs": r.inputs}, sort_keys=True, width=10_000).rstrip())


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


def cost_delta_lines(before: CostReport, after: CostReport) -> list[str]:
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


def print_diff(d: PlanDiff, costs: tuple[CostReport, CostReport] | None = None, console: Console | None = None) -> None:
    """A `pulumi preview --diff`-like listing, data loss and disruption apart, cost delta, summary line."""
    from rich.text import Text

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


def print_cost(report: CostReport, console: Console | None = None) -> None:
    """An Infracost-like breakdown: per component and resource, totals, $/GPU-hour, gaps."""
    from rich.table import Table
    from rich.text import Text

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


# -- what every command prints first, and the --json documents ------------------------------------------
def say_source(src: StackSource) -> None:
    """The first line of every human output: which stack was read; then what was adjusted."""
    click.echo(src.describe())
    for n in src.notices:
        click.echo(f"note: {n}")


def with_source(data: dict[str, Any], src: StackSource) -> dict[str, Any]:
    return {"source": src.to_dict(), **data}


def emit_json(data: Any, src: StackSource | None = None) -> None:
    """A --json document on stdout (with `source` first when the command read a stack)."""
    click.echo(json.dumps(with_source(data, src) if src is not None else data, indent=2, default=str))


def error_json(key: str, problem: str, fix: str, code: int, document: dict[str, Any] | None = None) -> None:
    """The --json answer of a failed command (stdout; the text line goes to stderr); `document`: what the
    command decided before it refused (an upgrade's diff), in the same object."""
    error = {"error": {"field": key, "problem": problem, "fix": fix}, "exit": code}
    click.echo(json.dumps({**(document or {}), **error}, indent=2, default=str))


def cost_delta(costs: tuple[CostReport, CostReport] | None) -> dict[str, Any] | None:
    """The `cost` object of `diff --json` and `upgrade --json`."""
    if costs is None:
        return None
    before, after = costs
    return {
        "region": after.region,
        "idle_before": round(before.idle, 2),
        "idle_after": round(after.idle, 2),
        "monthly_before": round(before.monthly, 2),
        "monthly_after": round(after.monthly, 2),
        "gaps": len(before.gaps) + len(after.gaps),
    }


def progress(message: str) -> Any:
    """A spinner on stderr while a slow step runs, only when stderr is a terminal."""
    from rich.console import Console

    if not sys.stderr.isatty():
        return None
    status = Console(stderr=True).status(message)
    status.start()
    return status


# -- profiles, doctor, outputs, destroy ---------------------------------------------------------------
def print_profiles(rows: list[dict[str, Any]], region: str) -> None:
    from rich.table import Table

    from mlplatform.stacks.analyses.cost import idle_cell

    table = Table(title="mlplatform profiles", show_lines=True)
    for col in ("profile", "team size", "components", "key sizes", f"idle cost, {region}"):
        table.add_column(col, overflow="fold")
    for r in rows:
        c = r["idle_cost"]
        table.add_row(
            f"[bold]{r['profile']}[/]",
            r["team_size"],
            "\n".join(r["components"]),
            "\n".join(f"{k}: {v}" for k, v in r["sizes"].items()),
            idle_cell(c["idle_monthly"], c["unpriced"]),
        )
    console_for().print(table)


def print_findings(findings: Sequence[Finding]) -> None:
    """The doctor's checks, one line each."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    styles = {"ok": "green", "warn": "yellow", "blocker": "bold red"}
    for f in findings:
        console.print(f.line(), style=styles[f.status], markup=False)


def print_outputs(rows: list[tuple[str, Any]]) -> None:
    for key, value in rows:
        click.echo(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")


def print_destroy_plan(dplan: DestroyPlan) -> None:
    from mlplatform.stacks.cloud.engine import short_urn

    for label, urns in dplan.phases:
        click.echo(f"will delete, {label}: {len(urns)} resources")
    for urn in dplan.unprotected:
        type_, name = short_urn(urn)
        click.echo(f"will delete protected: {name} ({type_})")
    for urn in dplan.kept:
        type_, name = short_urn(urn)
        click.echo(f"keeps: {name} ({type_})")


# -- check --------------------------------------------------------------------------------------------
def print_report(report: CheckReport) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"Policy check of profile [bold]{report.profile}[/]: built-in rules"
        + "".join(f", {s.name}" for s in report.scanners if s.status == "ran")
        + "\n"
    )
    color = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
    for f in report.findings:
        sev = f"[dim]{f.severity:<6}[/]" if f.waived else f"[{color.get(f.severity, 'white')}]{f.severity:<6}[/]"
        console.print(f"{sev} {escape(f.rule)}  [bold]{escape(f.name)}[/]: {escape(f.message)}")
        console.print(f"       [green]waived:[/] {escape(f.waived)}" if f.waived else f"       fix: {escape(f.fix)}")
    console.print()
    for run in report.scanners:
        if run.status == "ran":
            console.print(
                f"{run.name}: {run.passed} passed, {run.failed} failed, {run.skipped} skipped ({run.message})"
            )
        else:
            console.print(f"[yellow]{run.name}: {run.status}[/] - {escape(run.message)}")
    for w in report.unused_waivers:
        if w.origin == "config":  # a profile's waiver goes unused when your config fixed the finding
            console.print(
                f"[yellow]warning:[/] waiver {escape(w.rule)} for {escape(w.resource)!r} matched nothing; "
                "remove it from your config"
            )
    c = report.counts()
    console.print("Findings: " + ", ".join(f"{sev} {n['open']} open / {n['waived']} waived" for sev, n in c.items()))
    high = len(report.blocking())
    if high:
        console.print(
            f"[bold red]check failed:[/] {high} unwaived high finding(s); fix them or waive each "
            "with a reason under `waivers:` in the stack config"
        )
    else:
        console.print("[bold green]check passed:[/] no unwaived high finding")


# -- team ---------------------------------------------------------------------------------------------
def print_team_change(src: StackSource, change: TeamChange, as_json: bool) -> None:
    if as_json:
        emit_json(change.to_dict(), src)
        return
    say_source(src)
    print_diff(change.diff)
    verb = {"add": "added", "remove": "removed"}[change.action]
    if change.written:
        click.echo(f"{change.path}: {verb} team {change.team}; nothing else in the file changed.")
    else:
        click.echo(f"--dry-run: {change.path} not written (it would have {verb} team {change.team}).")
    for k in change.kept:
        click.echo(f"kept: {k}")
    for n in change.notes:
        click.echo(f"note: {n}")
    if change.other_changes:
        click.echo(
            f"warning: {len(change.other_changes)} resources outside the team change too: "
            + ", ".join(u.split("::")[-1] for u in change.other_changes)
        )
    click.echo("Nothing has changed in the cloud: run `mlplatform preview` then `mlplatform up` to apply it.")


def print_teams(rows: list[dict[str, Any]], queues: bool = False) -> None:
    """The teams table; with queues: GPUs by pool (what Kueue may admit), budget, GPUs in use."""
    from rich.table import Table

    table = Table(title="teams")
    extra = ("GPUs by pool (may admit)", "budget $/month", "GPUs in use") if queues else ()
    for col in ("team", "GPUs", "CPUs", "memory", "PVCs", "principals", "runners", *extra):
        table.add_column(col)
    for r in rows:
        runners = ", ".join(k for k in ("cpu", "gpu") if (r["runners"] or {}).get(k)) or "-"
        cells = []
        if queues:
            pools = ", ".join(f"{p} {n}" for p, n in r["gpus_by_pool"].items()) or "-"
            use = r["usage"]
            in_use = (
                "?"
                if isinstance(use, str)
                else (", ".join(f"{f} {n}" for f, n in use["gpus_in_use"].items()) or "0")
                + ("" if use["stop_policy"] == "None" else f" (queue: {use['stop_policy']})")
            )
            budget = r["gpu_budget_usd_month"]
            cells = [f"{pools} ({r['gpus_admissible']})", f"{budget:g}" if budget else "-", in_use]
        table.add_row(
            r["name"],
            str(r["gpu_quota"]),
            str(r["cpu_quota"]),
            f"{r['memory_quota_gib']} GiB",
            str(r["pvc_quota"]),
            str(len(r["principals"])),
            runners,
            *cells,
        )
    console_for().print(table)


def confirm_or_refuse(question: str, yes: bool, what: str) -> None:
    """--yes, or an interactive yes; without a terminal and without --yes: refuse (exit 3)."""
    from mlplatform.stacks.errors import PolicyRefusal

    if yes:
        return
    if not sys.stdin.isatty():
        raise PolicyRefusal(what, "needs confirmation and there is no terminal to ask", "pass --yes")
    if not click.confirm(question, default=False):
        raise PolicyRefusal(what, "not confirmed", "nothing was changed")


# -- evidence ---------------------------------------------------------------------------------------------
def ledger_header(ledger: Ledger, as_json: bool, err: bool = False) -> None:
    if not as_json:
        click.echo(ledger.describe() + ledger.source, err=err)


def print_timeline(ledger: Ledger, model: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    from mlplatform.stacks.evidence.audit import short

    ledger_header(ledger, as_json=False)
    table = Table(title=f"evidence of {model}")
    for col in ("#", "time", "kind", "digest", "who", "summary"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["seq"]), r["time"] or "-", r["kind"], short(r["digest"]), r["who"], r["summary"])
    Console(highlight=False).print(table)
    click.echo(f"{len(rows)} records. Not verified here: run `mlplatform evidence verify --model {model}`.")


def print_live(ledger: Ledger, model: str, environment: str, answer: dict[str, Any]) -> None:
    ledger_header(ledger, as_json=False)
    live = answer["live"]
    if live is None:
        first = answer.get("first_deployment")
        click.echo(
            f"Nothing of {model} was live in {environment} at {answer['at']}"
            + (f": its first deployment there was at {first}." if first else ": it was never deployed there.")
        )
        return
    t = live["trained_from"] or {}
    ev = live["evaluation"] or {}
    lines = [
        ("model", model),
        ("environment", environment),
        ("at", answer["at"]),
        ("digest", live["digest"]),
        ("version", live["version"] or "-"),
        ("live since", live["live_since"]),
        ("replaced", live["replaced"] or "-"),
        ("live by", live.get("by") or "deployment"),
        (
            "last rollback",
            f"{live['last_rollback']['at']} ({live['last_rollback']['reason']}): "
            f"{live['last_rollback']['failed'] or '-'} did not stay live"
            if live.get("last_rollback")
            else "-",
        ),
        (
            "approved by",
            f"{live['approved_by']} via {live['approved_via']} at {live['approved_at']}"
            if live["approved_by"]
            else "NO APPROVAL RECORDED",
        ),
        (
            "trained from",
            f"commit {t.get('commit')}"
            + (f" of {t['repository']}" if t.get("repository") else "")
            + (f", run {t['workflow_run']}" if t.get("workflow_run") else "")
            if t
            else "NO PROVENANCE RECORDED",
        ),
        ("training data", ", ".join(t.get("data") or []) or "-"),
        ("training image", t.get("training_image") or "-"),
        ("mlflow run", t.get("mlflow_run") or "-"),
        ("evaluation", ", ".join(f"{k}={v:g}" for k, v in (ev.get("metrics") or {}).items()) or "-"),
        (
            "observed",
            f"{', '.join(live['observed']['running']) or 'nothing'} at {live['observed']['at']}"
            if live["observed"]
            else "no observation yet",
        ),
    ]
    width = max(len(k) for k, _ in lines)
    for k, v in lines:
        click.echo(f"{k:<{width}}  {v}")


def print_breaks(report: VerifyReport) -> None:
    for b in report.breaks:
        click.echo(b.line())
    n = len(report.breaks)
    click.echo(
        f"Verified {report.records} records of {len(report.models)} model(s) with the {report.key_source}: "
        + (f"{n} break{'s' if n != 1 else ''}." if n else "no breaks.")
    )


def print_recorded(written: Sequence[Record]) -> None:
    for r in written:
        click.echo(r.key)
    click.echo(f"{len(written)} observation(s) recorded." if written else "No change: nothing recorded.")
