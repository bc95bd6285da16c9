"""The one reader and writer of a stack's files: `Pulumi.yaml`, `Pulumi.<stack>.yaml` and plain stack configs.

Reading: the text is parsed once for values (PyYAML, duplicate keys refused) and once by ruamel.yaml
in round-trip mode for where each value sits (line and column marks). Writing is a splice at those
marks: `set_value` changes the one line a scalar is on, `add_item`/`remove_item` insert or cut one
block-list entry, so comments, indentation, quoting, blank lines and key order stay byte for byte.
Every edit is checked: the edited text must parse to exactly the expected values, else nothing is
written. `save()` writes atomically (temporary file + rename, the file's mode kept), keeps the
previous text as `<file>.bak` (or `.bak.1`, `.bak.2`... when an older backup differs) and leaves no
temporary or backup file behind when the write fails.

A Pulumi stack file keeps mlplatform's values under `config:` as `mlplatform:<key>`; a plain stack
config (like examples/existing-vpc/stack.yaml) keeps them at the top level. `key` below is always the
plain name (`profile`, `teams`, `gpu`); the file's own spelling is `StackFile.key_of(key)`.
"""

from __future__ import annotations

import copy
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

NAMESPACE = "mlplatform:"


BACKUP_RE = re.compile(r"\.bak(\.[0-9]+)?$")


def _without_backup_suffix(name: str) -> str:
    """`Pulumi.dev.yaml.bak` / `.bak.2` (the backups `upgrade` and `team` keep) -> `Pulumi.dev.yaml`."""
    return BACKUP_RE.sub("", name)


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, mark: Any):
        self.key, self.where = key, f" (line {mark.line + 1})" if mark else ""
        super().__init__(f"duplicate key {key!r}")


class UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def is_stack_file(path: str | Path) -> bool:
    """`Pulumi.<stack>.yaml` (not the project's own `Pulumi.yaml`), or a backup of one (`….yaml.bak`)."""
    name = _without_backup_suffix(Path(path).name)
    return (
        name.startswith("Pulumi.")
        and name.endswith((".yaml", ".yml"))
        and name.count(".") >= 2
        and name not in ("Pulumi.yaml", "Pulumi.yml")
    )


def stack_name_of(path: str | Path) -> str:
    return _without_backup_suffix(Path(path).name).removeprefix("Pulumi.").rsplit(".", 1)[0]


def _read_text(p: Path, what: str) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(what, f"cannot read {p}: no such file", "check the path") from None
    except IsADirectoryError:
        raise SpecError(what, f"{p} is a folder, not a file", "give the file's path") from None
    except OSError as e:
        raise SpecError(what, f"cannot read {p}: {e.strerror or e}", "check the path and its permissions") from None
    except UnicodeDecodeError:
        raise SpecError(what, f"{p} is not UTF-8 text", "save it as UTF-8 YAML") from None


def parse_yaml(text: str, p: Path, what: str) -> dict[str, Any]:
    """A YAML mapping, duplicate keys refused; any problem is one SpecError naming the file."""
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
    except DuplicateKey as e:
        raise SpecError(
            what, f"{p} sets {e.key!r} twice{e.where}", "keep one of them (YAML would silently keep the last)"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise SpecError(what, f"{p} is not valid YAML{where} ({problem})", "fix the YAML syntax there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError(
            what,
            f"{p} must hold a mapping of keys, not a {type(data).__name__}",
            "write it as `key: value` lines like the profiles in stacks/profiles/",
        )
    return data


def read_yaml_file(path: str | Path, what: str = "config") -> dict[str, Any]:
    p = Path(path)
    return parse_yaml(_read_text(p, what), p, what)


# -- Pulumi.yaml ----------------------------------------------------------------------------------
@dataclass
class ProjectFile:
    """A Pulumi project's `Pulumi.yaml`: its name and state backend."""

    path: Path
    data: dict[str, Any]
    exists: bool = True

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def backend_url(self) -> str | None:
        backend = self.data.get("backend") or {}
        return backend.get("url") if isinstance(backend, dict) else None

    def stacks(self) -> list[str]:
        """The stacks that have a `Pulumi.<stack>.yaml` beside it, sorted."""
        return sorted({stack_name_of(p) for p in self.directory.glob("Pulumi.*.y*ml") if is_stack_file(p)})


def find_project(directory: str | Path) -> ProjectFile | None:
    """The project of a folder: its Pulumi.yaml; a folder holding only Pulumi.<stack>.yaml files counts
    too (a ProjectFile without a file: no name, no backend; the engine verbs refuse it)."""
    d = Path(directory)
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        p = d / name
        if p.is_file():
            return ProjectFile(p, read_yaml_file(p, what=str(p.name)))
    if any(is_stack_file(p) for p in d.glob("Pulumi.*.y*ml")):
        return ProjectFile(d / "Pulumi.yaml", {}, exists=False)
    return None


# -- stack files ----------------------------------------------------------------------------------
@dataclass
class StackFile:
    """One stack config file, as read (values and text)."""

    path: Path
    kind: str  # "pulumi" (Pulumi.<stack>.yaml) or "stack" (plain mlplatform config)
    text: str
    data: dict[str, Any]
    what: str = "--config"
    _rt: Any = field(default=None, repr=False)

    @classmethod
    def read(cls, path: str | Path, what: str | None = None) -> StackFile:
        p = Path(path)
        kind = "pulumi" if is_stack_file(p) else "stack"
        what = what or ("--stack-file" if kind == "pulumi" else "--config")
        text = _read_text(p, what)
        data = parse_yaml(text, p, what)
        if kind == "pulumi" and not isinstance(data.get("config", {}) or {}, dict):
            raise SpecError(what, f"{p}: `config:` must be a mapping", "see `mlplatform init` for the shape")
        return cls(p, kind, text, data, what)

    # values
    @property
    def stack(self) -> str | None:
        return stack_name_of(self.path) if self.kind == "pulumi" else None

    @property
    def config(self) -> dict[str, Any]:
        """A Pulumi stack file's `config:` map (a plain config: its keys under `mlplatform:`)."""
        if self.kind == "pulumi":
            return dict(self.data.get("config") or {})
        return {NAMESPACE + k: v for k, v in self.data.items()}

    @property
    def secrets_provider(self) -> str | None:
        return self.data.get("secretsprovider") if self.kind == "pulumi" else None

    def key_of(self, key: str) -> str:
        return NAMESPACE + key if self.kind == "pulumi" else key

    def get(self, key: str, default: Any = None) -> Any:
        node = (self.data.get("config") or {}) if self.kind == "pulumi" else self.data
        return node.get(self.key_of(key), default)

    @property
    def profile(self) -> str | None:
        return self.get("profile")

    # edits (each returns the new text; nothing is written until save)
    def _doc(self) -> Any:
        if self._rt is None:
            from ruamel.yaml import YAML
            from ruamel.yaml.error import YAMLError

            try:
                self._rt = YAML().load(self.text)
            except YAMLError as e:  # pragma: no cover - PyYAML read it already
                raise SpecError(
                    self.what, f"{self.path} is not valid YAML ({str(e).splitlines()[0]})", "fix the YAML syntax"
                ) from None
        return self._rt

    def _container(self) -> Any:
        from ruamel.yaml.comments import CommentedMap

        doc = self._doc()
        node = doc.get("config") if self.kind == "pulumi" and isinstance(doc, CommentedMap) else doc
        if not isinstance(node, CommentedMap) or not node:
            where = "its `config:` mapping" if self.kind == "pulumi" else "its top level"
            raise SpecError(self.what, f"{self.path}: {where} is not a mapping of keys", "point it at a stack config")
        return node

    def expected(self, key: str, value: Any) -> dict[str, Any]:
        """The file's values with `key` set to `value` (None: removed)."""
        out = copy.deepcopy(self.data)
        node = out.setdefault("config", {}) if self.kind == "pulumi" else out
        if node is None:
            node = out["config"] = {}
        if value is None:
            node.pop(self.key_of(key), None)
        else:
            node[self.key_of(key)] = value
        return out

    def _checked(self, new_text: str, expect: dict[str, Any]) -> str:
        if (yaml.safe_load(io.StringIO(new_text)) or {}) != expect:  # a splice bug would land here, not on disk
            raise SpecError(str(self.path), "the edit would change other values", "edit the file by hand")
        return new_text

    def set_value(self, key: str, value: str | int | bool) -> str:
        """The text with one scalar `key` set: only its line changes (a new key: one line added)."""
        from ruamel.yaml.comments import CommentedMap

        lines = self.text.splitlines(keepends=True)
        nl = "\r\n" if "\r\n" in self.text else "\n"
        container, k = self._container(), self.key_of(key)
        rendered = yaml.safe_dump(value, default_flow_style=True, width=4096).strip()
        rendered = rendered.removesuffix("...").strip()
        if k in container and not isinstance(container[k], (CommentedMap, list)):
            line, _col, vline, vcol = container.lc.data[k]
            if vline != line:
                raise SpecError(k, f"{self.path}: its value is not on the key's line", "edit it by hand")
            text_line = lines[line]
            end = len(text_line.rstrip("\r\n"))
            rest = text_line[vcol:end]
            old = self._value_token(rest)
            lines[line] = text_line[:vcol] + rendered + rest[len(old) :] + text_line[end:]
        else:
            first = next(iter(container))
            fline, fcol = container.lc.key(first)
            after = "aws:region" if self.kind == "pulumi" and "aws:region" in container else None
            at = container.lc.key(after)[0] + 1 if after else fline
            lines.insert(at, " " * fcol + f"{k}: {rendered}{nl}")
        return self._checked("".join(lines), self.expected(key, value))

    @staticmethod
    def _value_token(rest: str) -> str:
        """The scalar at the start of `rest` (quoted or plain, up to a comment)."""
        if rest[:1] in ("'", '"'):
            q = rest[0]
            i = 1
            while i < len(rest):
                if rest[i] == q and not (q == '"' and rest[i - 1] == "\\"):
                    if q == "'" and rest[i + 1 : i + 2] == "'":
                        i += 2
                        continue
                    return rest[: i + 1]
                i += 1
            return rest
        cut = rest.find(" #")
        return (rest if cut < 0 else rest[:cut]).rstrip()

    def add_item(self, key: str, entry: dict[str, Any]) -> str:
        """The text with `entry` appended to the block list `key` (created when absent)."""
        from . import _splice

        current = list(self.get(key) or [])
        new_text = _splice.add(self.text, self._doc(), self._container(), self.key_of(key), self.kind, self.path, entry)
        return self._checked(new_text, self.expected(key, [*current, entry]))

    def remove_item(self, key: str, name: str) -> str:
        """The text with the entry `name: <name>` cut from the block list `key` (the key goes with its last entry)."""
        from . import _splice

        remaining = [t for t in (self.get(key) or []) if not (isinstance(t, dict) and t.get("name") == name)]
        new_text = _splice.remove(self.text, self._container(), self.key_of(key), self.path, name)
        return self._checked(new_text, self.expected(key, remaining or None))

    def save(self, text: str, backup: bool = False) -> Path | None:
        """Write `text` over the file atomically, keeping its mode; with `backup`, the old text goes to a
        `.bak` file that never silently replaces an older, different backup. Returns the backup's path."""
        return save_text(self.path, text, self.text if backup else None, what=self.what)


def _backup_path(path: Path, old: str) -> Path:
    candidate = path.with_name(path.name + ".bak")
    n = 0
    while candidate.exists():
        try:
            if candidate.read_text(encoding="utf-8") == old:
                return candidate
        except (OSError, UnicodeDecodeError):
            pass
        n += 1
        candidate = path.with_name(f"{path.name}.bak.{n}")
    return candidate


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_writable(path: Path, what: str = "--config") -> None:
    """Refuse (SpecError, one line) a stack file `save_text` could not rewrite: on a read-only file system,
    a file without write permission, a folder that takes no new file. Nothing is written."""
    from .. import files

    if path.exists() and not os.access(path, os.W_OK):
        if _read_only_fs(path):
            raise SpecError(
                what,
                f"cannot write {path}: Read-only file system",
                "copy the project to a writable folder (or remount it read-write); nothing was changed",
            )
        raise SpecError(
            what,
            f"cannot write {path}: permission denied (read-only file)",
            "make it writable (chmod u+w) or run as its owner; nothing was changed",
        )
    files.check_writable(path, force=True, what=what)


def save_text(path: Path, text: str, old: str | None = None, what: str = "--config") -> Path | None:
    """Atomic write of a user's file, mode kept; `old` (the previous text) is kept as a backup first.
    A failure is one SpecError and leaves neither the backup nor a temporary file."""
    from ..files import write_atomic

    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = 0o644
    check_writable(path, what)
    backup = _backup_path(path, old) if old is not None else None
    made_backup = backup is not None and not backup.exists()
    try:
        if backup is not None and made_backup:
            write_atomic(backup, old, force=True, what=what)  # type: ignore[arg-type]
            os.chmod(backup, mode)
        write_atomic(path, text, force=True, what=what)
        os.chmod(path, mode)
    except (SpecError, OSError) as e:
        if made_backup and backup is not None:
            backup.unlink(missing_ok=True)
        if isinstance(e, SpecError):
            raise
        raise SpecError(
            what, f"cannot write {path}: {e.strerror or e}", "check the folder's permissions; nothing was changed"
        ) from None
    return backup
