"""Writing users' files: atomically, and never over an existing file without `force`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import SpecError

FILE_MODE = 0o644


def write_atomic(path: str | Path, text: str, *, force: bool = False, what: str = "--out") -> Path:
    """Write `text` to `path` via a temporary file + rename, so readers never see half a file.

    Refuses (SpecError) when the file exists and `force` is false, or the folder is not writable.
    """
    p = Path(path)
    fd, tmp = _temporary_beside(p, force, what)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, FILE_MODE)  # mkstemp's files are private; a plan or a workflow is not
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def check_writable(path: str | Path, *, force: bool = False, what: str = "--out") -> None:
    """Refuse now (SpecError) what `write_atomic(path, ..., force=force)` would refuse later: an existing
    file without `force`, a missing folder, a folder that takes no new file (read-only, no permission).
    Commands call it before the slow part (planning), so a refused write costs nothing."""
    fd, tmp = _temporary_beside(Path(path), force, what)
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


def _temporary_beside(p: Path, force: bool, what: str) -> tuple[int, str]:
    """The checks before a write, then a temporary file in the target's folder (the write's first step)."""
    if p.exists() and not force:
        raise SpecError(what, f"{p} already exists", "pass --force to overwrite it, or choose another path")
    folder = p.parent if str(p.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise SpecError(what, f"{folder} is a file, so {p} cannot be written inside it", "choose a path in a folder")
    if not folder.is_dir():
        raise SpecError(what, f"folder {folder} does not exist", "create it first or choose another path")
    try:
        return tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise SpecError(what, f"cannot write in {folder}: {e.strerror}", "choose a writable folder") from None


def replace_all(directory: Path, files: dict[str, str], previous: dict[str, str], what: str) -> None:
    """Write several files into `directory` (created) all or none.

    Every file goes to a temporary file first; the renames happen only when all are written, and if
    a rename fails the ones already done are put back to `previous` (name -> old text; absent: new file).
    The caller decides beforehand what may be overwritten.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpecError(what, f"cannot create {directory}: {e.strerror or e}", "choose a writable folder") from None
    temps: dict[str, str] = {}
    done: list[str] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
            temps[name] = tmp
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, FILE_MODE)
        for name in files:
            os.replace(temps[name], directory / name)
            del temps[name]
            done.append(name)
    except OSError as e:
        for name in done:  # put back what was there
            if name in previous:
                (directory / name).write_text(previous[name])
            else:
                (directory / name).unlink(missing_ok=True)
        raise SpecError(what, f"cannot write in {directory}: {e.strerror or e}", "choose a writable folder") from None
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
