"""Running the installed ``macgen`` entry point in a subprocess, as a user does.

``run_macgen`` runs it in a directory of its own; ``assert_usage_error`` checks the
promise for bad input: exit code 2, exactly one line on stderr naming the problem,
no traceback, nothing on stdout, and no file left behind in that directory.
"""

import os
import subprocess
import sys
from pathlib import Path

#: The console script of the environment running the tests (``.venv/bin/macgen``).
MACGEN = Path(sys.executable).parent / "macgen"


def run_macgen(cwd, *argv, timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(MACGEN), *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


def assert_usage_error(cwd, *argv, message: str):
    """Run ``macgen *argv`` in ``cwd`` and check it is a clean usage error mentioning ``message``."""
    cwd = Path(cwd)
    before = _files(cwd)
    proc = run_macgen(cwd, *argv)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n"), proc.stderr
    assert proc.stderr.startswith("macgen ") and ": error: " in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stdout
    assert message in proc.stderr, proc.stderr
    assert _files(cwd) == before, sorted(map(str, _files(cwd) - before))
    return proc.stderr
