"""Import direction (STYLE.md): the reference side never imports Amaranth, and the
hardware never imports its reference."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "macgen"


def test_model_modules_import_no_amaranth():
    code = ("import sys, macgen.formats, macgen.config, macgen.golden, macgen.precision; "
            "print(','.join(sorted(m for m in sys.modules if m == 'amaranth' or m.startswith('amaranth.'))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "", f"Amaranth modules imported: {out.strip()}"
    # The check itself can fail: importing the RTL does pull Amaranth in.
    code = code.replace("macgen.precision;", "macgen.precision, macgen.rtl;")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "amaranth.hdl" in out.split(",")


def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the macgen modules ``path`` imports (relative imports resolved)."""
    package = ["macgen", *path.relative_to(PACKAGE).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_rtl_imports_neither_golden_nor_precision():
    files = sorted((PACKAGE / "rtl").glob("*.py"))
    assert files
    for path in files:
        bad = {n for n in _imported_modules(path)
               if n.startswith(("macgen.golden", "macgen.precision", "macgen.verify"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"
    # The scan sees imports of the reference where they exist.
    assert "macgen.golden" in _imported_modules(PACKAGE / "verify" / "array.py")


def test_nothing_imports_the_tests_or_the_cli():
    for path in sorted(PACKAGE.rglob("*.py")):
        names = _imported_modules(path)
        assert not any(n == "tests" or n.startswith("tests.") for n in names), path
        if path.name != "__main__.py" and path.parent.name != "commands" and path.name != "cli.py":
            assert not any(n.startswith("macgen.cli") for n in names), path
