"""Line splices for block lists of a YAML file, located with ruamel.yaml's line and column marks.

Every byte outside the inserted or cut entry stays as it was (comments, quoting, blank lines, other
entries): adding an entry then removing it gives the file back byte for byte. Used only through
`stackfile.StackFile.add_item` / `remove_item`, which check the result parses to the expected values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError


# ------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _significant(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, col: int, items_at_col: bool) -> int:
    """Index just past the block that starts on line `start` at column `col`: up to the next
    significant line indented at most `col` (with `items_at_col`, `- ` lines at `col` still belong to
    it: an indentless list under a key). Trailing blank and comment lines belong to what follows."""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not _significant(line):
            continue
        ind = _indent(line)
        is_item = line.lstrip(" ").startswith("- ") or line.strip() == "-"
        if ind < col or (ind == col and not (items_at_col and is_item)):
            end = i
            break
    while end > start + 1 and not _significant(lines[end - 1]):
        end -= 1
    return end


def _render_item(entry: dict[str, Any], dash_col: int, key_col: int, nl: str) -> str:
    body = yaml.dump(entry, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096).splitlines()
    out = [" " * dash_col + "-" + " " * (key_col - dash_col - 1) + body[0]]
    out += [" " * key_col + line for line in body[1:]]
    return nl.join(out) + nl


def _block_seq(container: Any, key: str, path: Path) -> Any:
    """The `teams` sequence node (None when the key is absent or empty); refuses flow style."""
    from ruamel.yaml.comments import CommentedSeq

    if key not in container or container[key] is None:
        return None
    seq = container[key]
    if not isinstance(seq, CommentedSeq):
        raise SpecError(key, f"{path}: must be a list of teams", "write it as `- name: ...` entries")
    if len(seq) and seq.fa.flow_style():
        raise SpecError(
            key,
            f"{path}: the list is written in flow style ([...])",
            "write it as a block list (`- name: ...` lines) so `team` can edit it, or edit it by hand",
        )
    return seq if len(seq) else None


def add(text: str, doc: Any, container: Any, key: str, kind: str, path: Path, entry: dict[str, Any]) -> str:
    """`entry` appended to the block list `key` of `container` (the mapping holding it)."""
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    seq = _block_seq(container, key, path)
    if seq is not None:
        line, key_col = seq.lc.item(len(seq) - 1)
        dash_col = lines[line].rfind("-", 0, key_col)
        if dash_col < 0 or lines[line][dash_col + 1 : key_col].strip():
            raise SpecError(key, f"{path}: cannot find where the last team entry starts", "add the team by hand")
        at = _block_end(lines, line, dash_col, items_at_col=False)
        return "".join(lines[:at]) + _render_item(entry, dash_col, key_col, nl) + "".join(lines[at:])
    if key in container:  # `teams: []`: the key line becomes a block list
        kline, kcol = container.lc.key(key)
        at = _block_end(lines, kline, kcol, items_at_col=True)
        block = " " * kcol + f"{key}:{nl}" + _render_item(entry, kcol + 2, kcol + 4, nl)
        return "".join(lines[:kline]) + block + "".join(lines[at:])
    _, kcol = container.lc.key(next(iter(container)))  # the new key lines up with the others
    if kind == "pulumi":
        cline, ccol = doc.lc.key("config")
        at = _block_end(lines, cline, ccol, items_at_col=False)
    else:  # after the last significant line (trailing comments stay last)
        at = max((i + 1 for i, ln in enumerate(lines) if _significant(ln)), default=0)
    block = " " * kcol + f"{key}:{nl}" + _render_item(entry, kcol + 2, kcol + 4, nl)
    before = "".join(lines[:at])
    if before and not before.endswith("\n"):  # a file without a final newline keeps not having one
        return before + nl + block[: -len(nl)] + "".join(lines[at:])
    return before + block + "".join(lines[at:])


def remove(text: str, container: Any, key: str, path: Path, team: str) -> str:
    """The entry `name: <team>` cut from the block list `key` (the key too, with its last entry)."""
    lines = text.splitlines(keepends=True)
    seq = _block_seq(container, key, path)
    names = [item.get("name") if hasattr(item, "get") else None for item in (seq or [])]
    if team not in names:
        raise SpecError(
            "team",
            f"no team {team!r} in {path}",
            f"teams there: {', '.join(map(str, names))}" if names else "it lists no teams",
        )
    i = names.index(team)
    if len(seq) == 1:  # the last team: the key goes too
        kline, kcol = container.lc.key(key)
        start, end = kline, _block_end(lines, kline, kcol, items_at_col=True)
    else:
        line, key_col = seq.lc.item(i)
        dash_col = lines[line].rfind("-", 0, key_col)
        if dash_col < 0 or lines[line][dash_col + 1 : key_col].strip():
            raise SpecError(key, f"{path}: cannot find where team {team!r} starts", "remove the team by hand")
        start, end = line, _block_end(lines, line, dash_col, items_at_col=False)
    removed = "".join(lines[start:end])
    before, after = "".join(lines[:start]), "".join(lines[end:])
    if not after and not removed.endswith("\n") and before.endswith("\n"):
        before = before[:-2] if before.endswith("\r\n") else before[:-1]
    return before + after
