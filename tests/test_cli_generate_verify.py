# amaranth: UnusedElaboratable=no
"""``macgen generate`` and ``macgen verify``, run in-process through ``macgen.cli.main``.

Budget: ~60 s (a few emissions; Icarus runs of a few thousand MACs; TestFloat
replay of 2,000 fp16 FMAs; the full 20,000 is behind ``slow``).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from macgen.verify import mac as vmac
from macgen.cli import main
from macgen.config import MACConfig
from macgen.emit import emit, read_sidecar
from macgen.formats import FP16, FloatFormat

from macgen import precision  # noqa: E402


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- generate ---------------------------------------------------------------------

def test_generate_mac_explicit_accumulator(tmp_path, capsys):
    code, out, err = _run(capsys, "generate", "mac", "--a-format", "fp16", "--b-format", "fp16",
                          "--acc-format", "fp16", "-o", str(tmp_path))
    cfg = MACConfig("fp16", "fp16", "fp16")
    assert code == 0, err
    assert f"wrote {tmp_path / (cfg.slug + '.v')}" in out
    meta = read_sidecar(tmp_path / f"{cfg.slug}.json")
    assert MACConfig.from_dict(meta["config"]) == cfg and meta["decision"] is None


def test_generate_mac_pipelined_loop(tmp_path, capsys):
    code, out, err = _run(capsys, "generate", "mac", "--acc-format", "e7m10", "--chunk-size", "256",
                          "--acc-stages", "4", "--mul-stages", "1", "-o", str(tmp_path), "--json")
    assert code == 0, err
    meta = read_sidecar(json.loads(out)["sidecar"])
    cfg = MACConfig("e5m2", "e5m2", "e7m10", chunk_size=256, acc_stages=4, mul_stages=1)
    assert MACConfig.from_dict(meta["config"]) == cfg and meta["top"] == cfg.slug
    assert meta["latency"] == 1 + 2 * 4 and meta["widths"]["acc_stages"] == 4
    assert meta["widths"]["loop_cuts"] == ["compared", "added", "normalized"]


def test_generate_mac_length_uses_the_model(tmp_path, capsys):
    code, out, err = _run(capsys, "generate", "mac", "--length", "4608", "-o", str(tmp_path), "--json")
    assert code == 0, err
    printed = json.loads(out)
    decision = precision.decide_accumulator(4608, "e5m2", "e5m2")
    assert decision.m_acc == 9  # docs/model.md: m_p = 5, n = 4608 -> 9
    assert printed["decision"] == json.loads(json.dumps(decision.to_dict()))
    assert printed["config"]["acc_fmt"] == str(decision.acc_fmt) and printed["config"]["chunk_size"] == 0
    meta = read_sidecar(printed["sidecar"])
    assert meta["decision"] == printed["decision"]


def test_generate_mac_chunk_auto_and_explicit_chunk(tmp_path, capsys):
    code, out, _ = _run(capsys, "generate", "mac", "--length", "4096", "--chunk", "auto",
                        "-o", str(tmp_path), "--json")
    auto = json.loads(out)
    expected = precision.decide_accumulator(4096, "e5m2", "e5m2", chunk="auto")
    assert code == 0 and auto["config"]["chunk_size"] == expected.chunk_size > 0
    assert auto["config"]["acc_fmt"] == str(expected.acc_fmt)
    code, out, _ = _run(capsys, "generate", "mac", "--length", "4096", "--chunk-size", "64",
                        "-o", str(tmp_path), "--json")
    fixed = json.loads(out)
    assert code == 0 and fixed["config"]["chunk_size"] == 64
    assert fixed["config"]["acc_fmt"] == str(precision.decide_accumulator(4096, "e5m2", "e5m2", chunk=64).acc_fmt)


def test_generate_mac_workload_sizes_for_its_most_demanding_gemm(tmp_path, capsys):
    from macgen import workloads
    code, out, err = _run(capsys, "generate", "mac", "--workload", "resnet32-cifar10",
                          "-o", str(tmp_path), "--json")
    assert code == 0, err
    chosen = json.loads(out)["decision"]
    lengths = {n for _, _, n in workloads.get_workload("resnet32-cifar10").lengths()}
    need = [precision.decide_accumulator(n, "e5m2", "e5m2") for n in lengths]
    assert chosen["m_acc"] == max(d.m_acc for d in need)
    assert chosen["exp_bits"] == max(d.exp_bits for d in need)
    assert chosen["n"] in lengths


def test_generate_mac_workload_ocp_e4m3_gets_an_ieee_accumulator(tmp_path, capsys):
    code, out, err = _run(capsys, "generate", "mac", "--workload", "resnet32-cifar10",
                          "--a-format", "fp8_e4m3fn", "--b-format", "fp8_e4m3fn", "-o", str(tmp_path), "--json")
    assert code == 0, err
    data = json.loads(out)
    acc = FloatFormat.parse(data["decision"]["acc_fmt"])
    assert acc.policy == "ieee" and data["decision"]["m_p"] == 7
    assert data["config"]["a_fmt"] == data["config"]["b_fmt"] == "e4m3fnan"
    assert data["config"]["acc_fmt"] == str(acc)


@pytest.mark.parametrize("argv, message", [
    (["--acc-format", "e6m99"], "exceeds 64 bits"),
    (["--acc-format", "e6m9", "--mul-stages", "7"], "mul_stages must be between 0 and 3, not 7"),
    (["--acc-format", "e6m9", "--acc-stages", "9"], "acc_stages must be between 1 and 8, not 9"),
    (["--acc-format", "e6m9", "--acc-stages", "0"], "acc_stages must be between 1 and 8, not 0"),
    (["--acc-format", "e6m9", "--product-man-bits", "9"], "product_man_bits must be between 1 and 4"),
    (["--acc-format", "e6m9fn"], "a_fmt e5m2 (ieee) can be NaN, which acc_fmt e6m9fn (finite)"),
    (["--a-format", "fp8_e4m3", "--acc-format", "fp32"], "OCP's FP8 E4M3 is 'fp8_e4m3fn'"),
    (["--a-format", "fp8_e4m3fn", "--b-format", "fp8_e4m3fn", "--acc-format", "fp32",
      "--out-format", "fp8_e4m3fn"], "e8m23 (ieee) can be infinity, which out_fmt e4m3fnan"),
    ([], "give --acc-format"),
    (["--length", "1024", "--batch", "8"], "--batch needs --workload"),
    (["--length", "0"], "--length must be between 1 and 2,147,483,648, not 0"),
    (["--workload", "no-such-net"], "Unknown workload"),
])
def test_generate_mac_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, message):
    out_dir = tmp_path / "out"
    code, out, err = _run(capsys, "generate", "mac", *argv, "-o", str(out_dir))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("macgen generate mac: error: ") and message in err, err
    assert not out_dir.exists()


def test_generate_mac_no_init_has_no_init_ports(tmp_path, capsys):
    code, out, err = _run(capsys, "generate", "mac", "--acc-format", "e7m10", "--no-init", "-o", str(tmp_path),
                          "--json")
    assert code == 0, err
    meta = read_sidecar(json.loads(out)["sidecar"])
    cfg = MACConfig("e5m2", "e5m2", "e7m10", init=False)
    assert MACConfig.from_dict(meta["config"]) == cfg and meta["top"] == cfg.slug and cfg.slug.endswith("_noinit")
    names = {p["name"] for p in meta["ports"]}
    assert {"a", "b", "result"} <= names and not names & {"init", "init_en"}
    # the default keeps them: the switch, not the format, removed them
    code, out, err = _run(capsys, "generate", "mac", "--acc-format", "e7m10", "--init", "-o", str(tmp_path),
                          "--json")
    assert code == 0, err
    assert {"init", "init_en"} <= {p["name"] for p in read_sidecar(json.loads(out)["sidecar"])["ports"]}


# -- verify: random dot products ----------------------------------------------------

@pytest.mark.sim
def test_verify_mac_random_passes(tmp_path, capsys):
    code, out, err = _run(capsys, "verify", "mac", "--a-format", "e5m2", "--b-format", "e5m2",
                          "--acc-format", "e6m9", "--chunk-size", "4", "--count", "40", "--seed", "3",
                          "--build-dir", str(tmp_path), "--json")
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["passed"] and summary["mismatches"] == 0 and summary["vectors"] == 40
    assert summary["simulator"] == "icarus" and summary["products"] > 40
    assert Path(summary["build_dir"]) == (tmp_path / MACConfig("e5m2", "e5m2", "e6m9", chunk_size=4).slug).resolve()


@pytest.mark.sim
def test_verify_mac_no_init_passes_without_initial_values(tmp_path, capsys, monkeypatch):
    drawn, random_stimulus = [], vmac.random_stimulus

    def spy(*args, **kwargs):
        drawn.append(random_stimulus(*args, **kwargs))
        return drawn[-1]
    monkeypatch.setattr(vmac, "random_stimulus", spy)
    code, out, err = _run(capsys, "verify", "mac", "--acc-format", "e7m10", "--no-init", "--count", "40",
                          "--build-dir", str(tmp_path), "--json")
    assert code == 0, out + err
    summary = json.loads(out)
    assert summary["passed"] and summary["mismatches"] == 0 and summary["vectors"] == 40
    assert Path(summary["build_dir"]).name == MACConfig("e5m2", "e5m2", "e7m10", init=False).slug
    assert len(drawn) == 1 and not drawn[0].init_en.any()


def test_verify_mac_vectors_with_no_init_is_a_usage_error(tmp_path, capsys):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3C00 3C00 3C00 4000 00\n")   # 1 * 1 + 1: a non-zero C the MAC could not take
    code, out, err = _run(capsys, "verify", "mac", "--a-format", "fp16", "--b-format", "fp16",
                          "--acc-format", "fp16", "--no-init", "--vectors", str(vectors),
                          "--build-dir", str(tmp_path / "b"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--vectors and --no-init cannot be combined" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.sim
def test_run_bench_reports_a_mismatch_decoded(tmp_path):
    """The scoreboard really compares: a wrong expected value is caught and decoded."""
    cfg = MACConfig("fp16", "fp16", "fp16")
    stim = vmac.random_stimulus(cfg, 30, seed=5)
    expected = vmac.expected_results(cfg, stim)
    expected[7] ^= np.uint64(1)
    design = emit(cfg, tmp_path / "rtl")
    summary = vmac.run_bench(design, cfg, stim, build_dir=tmp_path, expected=expected)
    assert summary.mismatches == 1 and not summary.passed
    report = summary.reports[0]
    assert report.startswith("dot product #7")
    assert f"expected = 0x{int(expected[7]):04x}" in report and f"got = 0x{int(expected[7] ^ np.uint64(1)):04x}" in report


@pytest.mark.sim
def test_run_bench_checks_the_latency(tmp_path):
    """A result one cycle off the latency the sidecar promises is a protocol error."""
    cfg = MACConfig("fp16", "fp16", "fp16")
    stim = vmac.random_stimulus(cfg, 12, seed=6)
    design = emit(cfg, tmp_path / "rtl")
    meta = json.loads(design.sidecar.read_text())
    meta["latency"] += 1
    design.sidecar.write_text(json.dumps(meta))
    summary = vmac.run_bench(design, cfg, stim, build_dir=tmp_path)
    assert summary.mismatches == 0 and summary.missing == 0
    assert summary.mistimed == stim.count and not summary.passed


def test_verify_mac_needs_an_accumulator(capsys):
    code, _, err = _run(capsys, "verify", "mac", "--count", "1")
    assert code == 2 and "--acc-format is required" in err and err.count("\n") == 1


def test_verify_mac_rejects_bad_count(capsys, tmp_path):
    code, _, err = _run(capsys, "verify", "mac", "--acc-format", "e6m9", "--count", "0",
                        "--build-dir", str(tmp_path))
    assert code == 2 and "--count must be between 1 and 1,000,000, not 0" in err


# -- verify: TestFloat vectors --------------------------------------------------------

def write_testfloat_fp16(path, n, seed):
    """A Berkeley TestFloat ``f16_mulAdd`` file from the gmpy2 oracle (``tests/oracle.py``)."""
    from macgen.verify.oracle import testfloat_fma_vectors

    lines = testfloat_fma_vectors(FP16, n, seed)
    Path(path).write_text("\n".join(lines) + "\n")
    cols = np.array([[int(x, 16) for x in line.split()[:4]] for line in lines], dtype=np.uint64)
    return cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3]


def _verify_vectors(tmp_path, capsys, n, seed, *extra):
    vectors = tmp_path / "f16_mulAdd.txt"
    a, b, c, r = write_testfloat_fp16(vectors, n, seed)
    classes = set(FP16.classify(np.concatenate([a, b, c, r])))
    assert {"zero", "subnormal", "normal", "inf", "nan"} <= classes
    code, out, err = _run(capsys, "verify", "mac", "--a-format", "fp16", "--b-format", "fp16",
                          "--acc-format", "fp16", "--vectors", str(vectors), "--build-dir",
                          str(tmp_path / "build"), "--json", *extra)
    return code, out, err, vectors


@pytest.mark.sim
@pytest.mark.parametrize("count, seed", [(2000, 20), pytest.param(20000, 21, marks=pytest.mark.slow)])
def test_verify_mac_testfloat_fp16(tmp_path, capsys, count, seed):
    code, out, err, _ = _verify_vectors(tmp_path, capsys, count, seed=seed)
    summary = json.loads(out)
    assert code == 0, summary["reports"][:3]
    assert summary["vectors"] == count and summary["mismatches"] == 0
    assert summary["reference_mismatches"] == 0


@pytest.mark.sim
def test_verify_mac_testfloat_wrong_file_result_fails(tmp_path, capsys):
    vectors = tmp_path / "f16_mulAdd.txt"
    *_, r = write_testfloat_fp16(vectors, 50, seed=22)
    line = int(np.flatnonzero(FP16.classify(r) == "normal")[3])
    lines = vectors.read_text().splitlines()
    fields = lines[line].split()
    fields[3] = f"{int(fields[3], 16) ^ 0x0001:04X}"  # a wrong RESULT (not a NaN: any NaN matches)
    lines[line] = " ".join(fields)
    vectors.write_text("\n".join(lines) + "\n")
    argv = ["verify", "mac", "--a-format", "fp16", "--b-format", "fp16", "--acc-format", "fp16",
            "--vectors", str(vectors), "--build-dir", str(tmp_path / "build")]
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert "mismatches vs vector file: 1" in out and "FAIL" in out
    # The report names the file line, the inputs and both results in hex and decoded.
    a, b, c = (f"0x{int(x, 16):04x}" for x in fields[:3])
    assert f"{vectors} line {line + 1}: fma(a, b, c)" in out
    assert f"a = {a} (" in out and f"b = {b} (" in out and f"c = {c} (" in out
    assert f"file = 0x{int(fields[3], 16):04x} (" in out and f"got = 0x{int(fields[3], 16) ^ 1:04x} (" in out
    code, out, _ = _run(capsys, *argv, "--json")
    data = json.loads(out)
    assert code == 1 and len(data["file_mismatches"]) == 1 and data["file_mismatches"][0]["line"] == line + 1
    assert data["file_mismatches"][0]["expected"].startswith(f"0x{int(fields[3], 16):04x} (")
    assert len(data["reports"]) == 1 and f"line {line + 1}" in data["reports"][0]


def test_verify_mac_vectors_need_one_format(tmp_path, capsys):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3C00 3C00 0000 3C00 00\n")
    code, _, err = _run(capsys, "verify", "mac", "--a-format", "e5m2", "--b-format", "e5m2",
                        "--acc-format", "e6m9", "--vectors", str(vectors), "--build-dir", str(tmp_path))
    assert code == 2 and "need one format for a, b and the accumulator" in err and err.count("\n") == 1


def test_verify_mac_malformed_vector_file_is_one_line_exit_2(tmp_path, capsys):
    vectors = tmp_path / "v.txt"
    vectors.write_text("3C00 3C00 0000 3C00 00\n3C00 zz 0000 3C00\n")
    code, _, err = _run(capsys, "verify", "mac", "--a-format", "fp16", "--b-format", "fp16",
                        "--acc-format", "fp16", "--vectors", str(vectors), "--build-dir", str(tmp_path / "b"))
    assert code == 2 and err.count("\n") == 1
    assert str(vectors) in err and "Line 2" in err
    assert not (tmp_path / "b").exists()
