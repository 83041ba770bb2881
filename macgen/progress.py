"""Progress on stderr, the one way every command shows it (``tqdm``).

Shown only when stderr is a terminal and the command was not given ``--quiet``:
piped or logged output stays clean, and an error stays one line. Everything that
can take more than a few seconds goes through :func:`bar` (known amount of work)
or :func:`status` (a phase of unknown length: a build, an emission, a Yosys run).
"""

from __future__ import annotations

import contextlib
import sys
import threading

__all__ = ["enabled", "set_quiet", "bar", "status", "note", "progress_printer"]

_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no progress for the rest of the command."""
    global _quiet
    _quiet = bool(quiet)


def enabled() -> bool:
    """Whether progress is shown: stderr is a terminal and ``--quiet`` was not given."""
    return not _quiet and sys.stderr.isatty()


def bar(total, desc: str, unit: str = "it"):
    """A ``tqdm`` progress bar on stderr (disabled unless :func:`enabled`)."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not enabled(),
                dynamic_ncols=True, leave=False)


class _Status:
    """A one-line spinner with the elapsed time, refreshed by a thread until :meth:`close`."""

    def __init__(self, desc: str):
        self._line = None
        if not enabled():
            return
        from tqdm import tqdm
        self._line = tqdm(total=None, desc=desc, file=sys.stderr, bar_format="{desc} ({elapsed})", leave=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self):
        while not self._stop.wait(0.5):
            self._line.refresh()

    def close(self):
        """End the spinner (e.g. when a progress bar takes over); closing twice is harmless."""
        if self._line is not None:
            self._stop.set()
            self._thread.join()
            self._line.close()
            self._line = None


@contextlib.contextmanager
def status(desc: str):
    """A one-line spinner with the elapsed time while the block runs (yields it: ``close()``
    ends it early)."""
    line = _Status(desc)
    try:
        yield line
    finally:
        line.close()


def note(text: str) -> None:
    """A line of progress text (printed above any bar), only when :func:`enabled`."""
    if enabled():
        from tqdm import tqdm
        tqdm.write(text, file=sys.stderr)


def progress_printer(unit: str = "cases", desc: str = "simulating", *, until=None):
    """A simulation's progress callback ``(done, total, mismatches)`` drawing a :func:`bar`;
    the first call closes ``until`` (a :func:`status` spinner for the build before it)."""
    state = {}

    def show(done, total, mismatches):
        if "bar" not in state:
            if until is not None:
                until.close()
            state["bar"] = bar(total, desc, unit=f" {unit}")
        b = state["bar"]
        b.set_postfix_str(f"{mismatches} mismatch{'es' if mismatches != 1 else ''}", refresh=False)
        b.update(done - b.n)
        if done >= total:
            b.close()

    return show
