"""``macgen plan`` run in-process: tables, JSON, plots, errors."""

import json
import time

import pytest

from macgen import precision as P
from macgen.cli import main
from macgen.workloads import builtin


def _run(capsys, *argv):
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_length_table(capsys):
    code, out, err = _run(capsys, "--length", "4608")
    assert code == 0 and err == ""
    row = next(line for line in out.splitlines() if line.startswith("-  "))
    cells = row.split()
    assert cells[:5] == ["-", "dot", "4608", "9", "-"]
    assert "Overall accumulator (analytical): e7m9, no chunking" in out


def test_plan_resnet18_chunk64_fast_and_consistent(capsys):
    P._vrr.cache_clear()
    P._min_m.cache_clear()
    t = time.perf_counter()
    code, out, _ = _run(capsys, "--workload", "resnet18-imagenet", "--a-format", "e5m2",
                        "--b-format", "e5m2", "--chunk", "64")
    # The brief asks for < 5 s (about 1 s measured on an idle machine); the margin keeps
    # the test from flaking when the suite runs beside synthesis jobs.
    assert time.perf_counter() - t < 10.0
    assert code == 0
    wl = builtin("resnet18-imagenet")
    n_rows = sum(1 for line in out.splitlines() if line.split()[:1] and
                 line.split()[0] in {layer.name for layer in wl.layers})
    assert n_rows == 3 * len(wl.layers)
    conv1_grad = next(line.split() for line in out.splitlines() if line.startswith("conv1 ")
                      and " grad " in line)
    n = 256 * 112 * 112
    assert conv1_grad[2] == str(n)
    assert conv1_grad[3] == str(P.min_acc_mantissa(n, 5))
    assert conv1_grad[4] == str(P.min_acc_mantissa(n, 5, chunk=64))
    assert conv1_grad[5] == "64"


def test_plan_resnet18_ocp_e4m3(capsys):
    """OCP E4M3 x E4M3: m_p = 7, an ieee accumulator (it holds the inputs' NaN)."""
    code, out, err = _run(capsys, "--workload", "resnet18-imagenet", "--a-format", "fp8_e4m3fn",
                          "--b-format", "fp8_e4m3fn", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    n = 256 * 112 * 112
    row = next(r for r in data["rows"] if r["layer"] == "conv1" and r["gemm"] == "grad")
    assert row["decision"]["m_p"] == 7 and row["decision"]["m_acc"] == P.min_acc_mantissa(n, 7)
    overall = data["overall"]["analytical"]
    assert overall["acc_fmt"] == f"e{overall['exp_bits']}m{overall['m_acc']}"   # ieee: no suffix
    code, out, _ = _run(capsys, "--workload", "resnet18-imagenet", "--a-format", "fp8_e4m3fn",
                        "--b-format", "fp8_e4m3fn")
    assert code == 0 and f"Overall accumulator (analytical): {overall['acc_fmt']}" in out


def test_plan_json_matches_library(capsys):
    code, out, _ = _run(capsys, "--workload", "alexnet-imagenet", "--chunk", "auto", "--json",
                        "--gemms", "fwd,grad", "--batch", "64")
    assert code == 0
    data = json.loads(out)
    assert data["batch"] == 64 and data["gemms"] == ["fwd", "grad"]
    assert len(data["rows"]) == 2 * len(builtin("alexnet-imagenet").layers)
    for row in data["rows"]:
        d = row["decision"]
        expected = P.decide_accumulator(row["length"], "e5m2", "e5m2", chunk="auto")
        assert d == expected.to_dict()
    fwd = data["summary"]["analytical"]["fwd"]
    assert fwd["max_length"] == 9216
    # one shared array: at least what every layer of that GEMM needs with that chunk
    L = fwd["chunk_size"]
    for row in data["rows"]:
        if row["gemm"] == "fwd":
            n = row["length"]
            assert fwd["m_acc"] >= P.min_acc_mantissa(n, 5, chunk=L if L < n else 0)
            assert fwd["m_acc_unchunked"] >= P.min_acc_mantissa(n, 5)
    assert data["overall"]["analytical"] == data["summary"]["analytical"]["all"]


def test_plan_options_reach_the_model(capsys):
    code, out, _ = _run(capsys, "--length", "4608", "--nzr", "0.5", "--cutoff", "10",
                        "--a-format", "fp16", "--b-format", "fp16", "--product-man-bits", "5",
                        "--acc-exp-bits", "9", "--json")
    assert code == 0
    d = json.loads(out)["rows"][0]["decision"]
    assert d["m_acc"] == P.min_acc_mantissa(4608, 5, nzr=0.5, cutoff=10)
    assert d["exp_bits"] == 9 and d["acc_fmt"].startswith("e9m")


def test_plan_workload_file(capsys, tmp_path):
    path = tmp_path / "net.toml"
    path.write_text('batch = 8\n[[layers]]\ntype = "fc"\nin_features = 300\nout_features = 20\n')
    code, out, _ = _run(capsys, "--workload", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["workload"] == "net"
    assert [r["length"] for r in data["rows"]] == [300, 20, 8]


def test_plan_plot(capsys, tmp_path):
    path = tmp_path / "v.png"
    code, out, _ = _run(capsys, "--workload", "resnet32-cifar10", "--gemms", "fwd,bwd", "--plot", str(path))
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v.png"]


def test_plan_compare(capsys):
    code, out, err = _run(capsys, "--length", "256", "--compare", "--mc-trials", "32", "--json")
    assert code == 0
    data = json.loads(out)
    row = data["rows"][0]
    assert row["decision"]["method"] == "analytical"
    assert row["simulated"]["method"] == "simulated"
    assert set(data["summary"]) == {"analytical", "simulated"}
    assert err == ""   # progress only on a terminal


def test_plan_compare_skips_long_lengths(capsys):
    code, out, _ = _run(capsys, "--length", "5000", "--compare", "--sim-max-length", "100")
    assert code == 0
    assert "not simulated" in out


@pytest.mark.parametrize("argv,message", [
    (["--length", "0"], "--length must be between 1 and 2,147,483,648, not 0"),
    (["--length", "100", "--chunk", "lots"], "--chunk must be none, auto or a chunk size 0-1,048,576, not 'lots'"),
    (["--length", "100", "--nzr", "0"], "--nzr must be in (0, 1], not 0"),
    (["--length", "100", "--cutoff", "1"], "--cutoff must be in (1, inf), not 1"),
    (["--length", "100", "--a-format", "x9"], "Unknown format 'x9'"),
    (["--length", "100", "--b-format", "e1m2"], "Exponent width must be at least 2, not 1"),
    (["--length", "100", "--product-man-bits", "9"], "product_man_bits must be between 1 and 4 (the exact product of e5m2 x e5m2 has 5), not 9"),
    (["--workload", "resnet32-cifar10", "--gemms", "fwd,up"], "GEMM must be one of fwd, bwd, grad, not 'up'"),
    (["--length", "100", "--batch", "4"], "--batch applies to --workload only"),
    (["--workload", "lenet"], "Unknown workload 'lenet'"),
    (["--workload", "resnet18-imagenet", "--batch", "0"], "--batch must be between 1 and 65,536, not 0"),
    (["--workload", "resnet18-imagenet", "--method", "simulated"], "--method simulated needs"),
    (["--length", "100", "--acc-exp-bits", "1"], "--acc-exp-bits must be between 2 and 62, not 1"),
    (["--length", "100", "--mc-trials", "1"], "--mc-trials must be between 2 and 100,000, not 1"),
])
def test_plan_bad_input_one_line_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("macgen plan: error: ")
    assert message in err, err


def test_plan_bad_plot_leaves_no_file(capsys, tmp_path):
    path = tmp_path / "v.xyz"
    code, _, err = _run(capsys, "--length", "100", "--plot", str(path))
    assert code == 2 and "--plot file must end in" in err
    assert list(tmp_path.iterdir()) == []


def test_plan_bad_workload_file_one_line(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"batch": 4, "layers": [{"type": "conv", "kernel": 3, "out_size": 4}]}')
    code, out, err = _run(capsys, "--workload", str(path))
    assert code == 2 and out == ""
    assert "bad.json: layer 0 (layer0): field 'in_channels' is missing" in err
    code, _, err = _run(capsys, "--workload", str(tmp_path / "none.json"))
    assert code == 2 and err.count("\n") == 1


def test_plan_requires_a_source(capsys):
    assert main(["plan"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_plan_simulated_rounding_reaches_the_monte_carlo(capsys):
    code, out, _ = _run(capsys, "--length", "64", "--method", "simulated", "--rounding", "rtz",
                        "--mc-trials", "512", "--json")
    assert code == 0
    d = json.loads(out)["rows"][0]["decision"]
    assert d["method"] == "simulated" and d["rounding"] == "rtz"
    lo, hi = d["m_acc_interval"]
    assert lo <= d["m_acc"] <= hi
    # truncation needs more bits than the formula (errors add coherently)
    assert d["m_acc"] > P.min_acc_mantissa(64, 5)
