"""Writing output files without ever leaving a partial one behind.

Every file macgen writes goes through here: the data goes to a temporary file
in the target directory, which then replaces the target with :func:`os.replace`
(atomic on one file system); on any error the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "write_atomic", "write_all_or_nothing", "user_cache_dir"]


def user_cache_dir() -> Path:
    """macgen's per-user cache: ``$XDG_CACHE_HOME/macgen``, else ``~/.cache/macgen`` (not created here).

    Holds what is expensive and safe to share between runs: the compiled golden
    kernel, the OSU018 library, synthesised design points.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "macgen"


def _temp_beside(path: Path) -> Path:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:   # name the file the user asked for, not the temporary one
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from None
    os.close(fd)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; a generated file is ordinary output
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path to write to; it replaces ``path`` when the block ends without error.

    For writers that want a file name (``savefig``, Yosys); the directory must exist.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` (``str`` as UTF-8 with ``\\n`` line ends) to ``path``, all or nothing."""
    write_all_or_nothing({Path(path): data})


def write_all_or_nothing(files: dict, *, skip_unchanged: bool = False) -> None:
    """Write every ``{path: data}`` or none of them.

    ``skip_unchanged`` leaves a file whose content is already right alone (its
    modification time too, so that simulator builds keyed on it stay valid).
    """
    encoded = {Path(p): d.encode("utf-8") if isinstance(d, str) else bytes(d) for p, d in files.items()}
    if skip_unchanged:
        encoded = {p: d for p, d in encoded.items() if not _same_content(p, d)}
    temps: dict[Path, Path] = {}
    done: list[Path] = []
    try:
        for path, data in encoded.items():
            temps[path] = _temp_beside(path)
            temps[path].write_bytes(data)
        for path, tmp in temps.items():
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        for path in done:  # all or nothing: a lone .v without its sidecar is partial output
            path.unlink(missing_ok=True)
        raise


def _same_content(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False
