"""Every command behaves as a user expects (issue 11), through the installed ``macgen``.

Bad input is one line on stderr and exit code 2, checked before any work, with
nothing left behind (:func:`cli_subprocess.assert_usage_error`). About 0.5 s a case.
"""

import json
from pathlib import Path

import pytest

from cli_subprocess import assert_usage_error, run_macgen
from macgen.limits import MAX_CHUNK_SIZE, MAX_LENGTH, MAX_SIM_MACS

BIG_FC = {"name": "big", "batch": 4, "layers": [{"type": "fc", "in_features": 100_000_000_000, "out_features": 8}]}


@pytest.mark.parametrize("argv, message", [
    # 1. size-like options have documented upper bounds
    (["verify", "mac", "--acc-format", "e6m9", "--chunk-size", "2147483648", "--count", "5"],
     f"--chunk-size must be between 0 and {MAX_CHUNK_SIZE:,}, not 2147483648"),
    (["verify", "array", "--rows", "2", "--cols", "2", "--acc-format", "e6m9", "--chunk-size", "1000000000000"],
     "--chunk-size must be between 0 and"),
    (["verify", "mac", "--acc-format", "e6m9", "--chunk-size", "1000000", "--count", "5"],
     f"more than one run simulates ({MAX_SIM_MACS:,})"),
    (["generate", "mac", "--acc-format", "e6m9", "--chunk-size", "2147483648", "-o", "out"], "--chunk-size must be"),
    (["area", "mac", "--acc-format", "e6m9", "--chunk-size", "2147483648"], "--chunk-size must be"),
    (["verify", "mac", "--acc-format", "e6m9", "--count", "100000000"], "--count must be between 1 and 1,000,000"),
    (["generate", "array", "--rows", "65", "--cols", "2", "--acc-format", "e6m9", "-o", "out"],
     "--rows must be between 1 and 64, not 65"),
    (["plan", "--length", "100", "--mc-trials", "10000000"], "--mc-trials must be between 2 and 100,000"),
    # 2. bounds on what ran silently for minutes
    (["plan", "--length", "99999999999999999999"], f"--length must be between 1 and {MAX_LENGTH:,}"),
    (["plan", "--workload", "big.json"], "field 'in_features' must be at most 1,048,576"),
    (["verify", "array", "--rows", "2", "--cols", "2", "--acc-format", "e6m9", "--depth", "100000000"],
     "--depth must be between 1 and 65,536"),
    (["generate", "mac", "--length", "100000", "--method", "simulated", "-o", "out"],
     "--method simulated steps through every product: lengths up to 16,384, not 100,000"),
    # 5. every option validated before any work
    (["flow", "--sweep-span", "100", "-o", "out"], "--sweep-span must be between 0 and 16, not 100"),
    (["flow", "--acc-stages", "1,9", "-o", "out"], "--acc-stages must be loop depths between 1 and 8, not 9"),
    (["flow", "--acc-stages", "1,x", "-o", "out"], "--acc-stages must be a list like 1,2,4,8, not '1,x'"),
    (["sweep", "--acc-exp-bits", "6", "--timeout", "0"], "--timeout must be in (0, 86400], not 0"),
    (["sweep", "--acc-exp-bits", "6", "--timeout", "-1"], "--timeout must be in (0, 86400], not -1"),
    (["sweep", "--length", "64", "--mc-trials", "-4"], "--mc-trials must be between 2 and 100,000, not -4"),
    # 8. options that would be ignored together are a conflict naming both
    (["generate", "mac", "--workload", "resnet32-cifar10", "--acc-format", "e6m9", "-o", "out"],
     "--acc-format and --workload cannot be combined"),
    (["generate", "mac", "--acc-format", "e6m9", "--acc-exp-bits", "8", "-o", "out"],
     "--acc-format and --acc-exp-bits cannot be combined"),
    (["generate", "mac", "--acc-format", "e6m9", "--chunk", "auto", "-o", "out"],
     "--acc-format and --chunk cannot be combined"),
    (["generate", "mac", "--length", "1000", "--chunk", "auto", "--chunk-size", "64", "-o", "out"],
     "--chunk and --chunk-size cannot be combined"),
    (["area", "mac", "--acc-format", "e6m9", "--length", "100"], "--acc-format and --length cannot be combined"),
    (["plan", "--length", "100", "--gemms", "grad"], "--length and --gemms cannot be combined"),
    (["verify", "mac", "--acc-format", "fp16", "--a-format", "fp16", "--b-format", "fp16", "--vectors", "v.txt",
      "--seed", "3"], "--vectors and --seed cannot be combined"),
    # 9. argparse's own errors: one line naming the option, and where help is
    (["plan", "--length", "3.5"], "--length must be an integer, not '3.5' (see 'macgen plan --help')"),
    (["plan", "--length", "100", "--rounding", "rtn"], "argument --rounding: invalid choice: 'rtn'"),
    (["verify", "mac", "--sim", "modelsim"], "argument --sim: invalid choice: 'modelsim'"),
    (["flow"], "the following arguments are required: -o/--output (see 'macgen flow --help')"),
    # 10. messages name the option and the user's path, not an errno or a temporary file
    (["generate", "mac", "--acc-format", "e6m9", "-o", "afile"], "-o/--output 'afile': 'afile' exists and is not a directory"),
    (["area", "mac", "--acc-format", "e6m9", "-o", "afile"], "-o/--output 'afile'"),
    (["flow", "-o", "afile"], "-o/--output 'afile'"),
    (["plan", "--length", "100", "--plot", "/proc/x.png"], "--plot '/proc/x.png': cannot create files in '/proc'"),
    (["plan", "--length", "64", "--method", "simulated", "--seed", "-1"], "--seed must be between 0 and"),
    (["verify", "mac", "--acc-format", "e6m9", "--reports", "-1"], "--reports must be between 0 and"),
])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(tmp_path, argv, message):
    (tmp_path / "big.json").write_text(json.dumps(BIG_FC))
    (tmp_path / "afile").write_text("mine\n")
    (tmp_path / "v.txt").write_text("3C00 3C00 0000 3C00 00\n")
    assert_usage_error(tmp_path, *argv, message=message)


def test_plot_folder_is_created_like_output_dirs(tmp_path):
    """3. The README tour's ``--plot build/vn.png`` works in a fresh checkout."""
    proc = run_macgen(tmp_path, "plan", "--workload", "resnet32-cifar10", "--chunk", "64", "--plot", "build/vn.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "build" / "vn.png").read_bytes()[:4] == b"\x89PNG"
    assert proc.stderr == ""


@pytest.mark.parametrize("command", ["plan", "generate mac", "generate array", "verify mac", "verify array",
                                     "area mac", "area array", "sweep", "flow"])
def test_help_shows_defaults_examples_and_no_spec(tmp_path, command):
    """18 and 13: every subcommand shows defaults and examples; none cites SPEC, which users lack."""
    proc = run_macgen(tmp_path, *command.split(), "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    text = proc.stdout
    assert "(default:" in text and "SPEC" not in text
    assert "example" in text.lower() and f"macgen {command.split()[0]}" in text.split("example")[-1]


def test_shipped_files_cite_the_repository_docs_not_spec_sections():
    """13: what ships in the wheel (package, benches, Yosys scripts) cites docs/, never "SPEC §"."""
    root = Path(__file__).resolve().parent.parent
    shipped = [p for d in ("macgen", "sim", "synth") for p in (root / d).rglob("*")
               if p.suffix in (".py", ".ys", ".tcl", ".md", ".txt") and p.is_file()]
    assert any(p.name == "area.ys" for p in shipped)
    cited = [f"{p.relative_to(root)}:{i}" for p in shipped
             for i, line in enumerate(p.read_text().splitlines(), 1) if "SPEC §" in line]
    assert cited == []


def test_help_of_area_mac_is_its_own(tmp_path):
    texts = {c: run_macgen(tmp_path, *c.split(), "--help").stdout for c in ("area", "area mac", "area array")}
    assert len(set(texts.values())) == 3
    assert "--breakdown" in texts["area mac"] and "--breakdown" not in texts["area array"]
    assert "--rows R" in texts["area array"] and "--rows R" not in texts["area mac"]


def test_help_names_the_flow_and_sweep_defaults(tmp_path):
    flow = " ".join(run_macgen(tmp_path, "flow", "--help").stdout.split())
    assert "simulator of both verifications (default: icarus" in flow
    assert "seed of the random verification stimulus (default: 1)" in flow
    sweep = " ".join(run_macgen(tmp_path, "sweep", "--help").stdout.split())
    assert "seconds per Yosys run (default: no limit)" in sweep


@pytest.mark.sim
def test_verify_build_dir_is_a_cache_replaced_after_an_interrupt(tmp_path):
    """11. DIR/<slug> is reused when complete and rebuilt when an interrupted run left it."""
    from macgen.commands.verify import IN_PROGRESS
    from macgen.config import MACConfig
    build = tmp_path / "b" / MACConfig("e5m2", "e5m2", "e6m9").slug
    build.mkdir(parents=True)
    (build / IN_PROGRESS).touch()
    (build / "half-built.vvp").write_text("garbage")
    argv = ["verify", "mac", "--acc-format", "e6m9", "--count", "5", "--build-dir", "b", "--json"]
    proc = run_macgen(tmp_path, *argv)
    assert proc.returncode == 0 and json.loads(proc.stdout)["passed"], proc.stderr
    assert not (build / "half-built.vvp").exists() and not (build / IN_PROGRESS).exists()
    (build / "mine.txt").write_text("kept")             # a complete build is reused, not wiped
    assert run_macgen(tmp_path, *argv).returncode == 0
    assert (build / "mine.txt").exists()


def test_flow_says_skipped_when_nothing_was_verified(tmp_path, monkeypatch, capsys):
    """4. No verification is 'skipped', not 'passed'."""
    import macgen.flow
    from macgen.cli import main
    report = {"saving_vs_fp32": {"training (chosen)": 1.5, "training (chosen) vs FP32 with the same chunking": 1.2,
                                 "inference (FWD only)": 1.4},
              "plan": {"training": {"acc_fmt": "e7m9", "chunk_size": 0}}, "workload": {"name": "w"},
              "timing": None, "verification": {}, "passed": True, "chosen_design": {"acc_stages": 1}}
    monkeypatch.setattr(macgen.flow, "run_flow", lambda opts, out, progress: report)
    assert main(["flow", "--mac-vectors", "0", "--array-tiles", "0", "-o", str(tmp_path / "o")]) == 0
    assert "verification: skipped;" in capsys.readouterr().out


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_flow_interrupted_keeps_the_previous_output(tmp_path, monkeypatch, stop):
    """6. Outputs are staged: an interrupted run leaves the previous complete output as it was."""
    import macgen.emit
    import macgen.plots
    from macgen.flow import FlowOptions, run_flow
    out = tmp_path / "out"
    (out / "rtl").mkdir(parents=True)
    (out / "rtl" / "old.v").write_text("old")
    (out / "report.md").write_text("old report")

    # The run's first outputs are the figure of v(n), then the MAC's Verilog: stop it half done there.
    def figure(path, **kwargs):
        Path(path).write_text("new figure")

    def half_done(cfg, rtl, **kwargs):
        Path(rtl).mkdir()
        (Path(rtl) / "new.v").write_text("new")
        raise stop("stopped")

    monkeypatch.setattr(macgen.plots, "plot_variance_lost", figure)
    monkeypatch.setattr(macgen.emit, "emit", half_done)
    with pytest.raises(stop, match="stopped"):   # chunk given: no design choice (synthesis) before the figure
        run_flow(FlowOptions(chunk="auto"), out, progress=None)
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "rtl"]
    assert [p.name for p in (out / "rtl").iterdir()] == ["old.v"] and (out / "report.md").read_text() == "old report"


def test_flow_publish_replaces_every_output_of_the_previous_run(tmp_path):
    """6. A complete rerun replaces the outputs as a whole: nothing of the previous run is mixed in."""
    from macgen.flow import publish_outputs
    out, stage = tmp_path / "out", tmp_path / "out" / ".staging.x"
    (out / "rtl").mkdir(parents=True)
    (out / "rtl" / "old.v").write_text("old")
    (out / "delay_vs_precision.png").write_text("old figure")   # this run made none
    (out / "work").mkdir()
    (stage / "rtl").mkdir(parents=True)
    (stage / "rtl" / "new.v").write_text("new")
    (stage / "report.md").write_text("new report")
    publish_outputs(stage, out)
    assert [p.name for p in (out / "rtl").iterdir()] == ["new.v"]
    assert not (out / "delay_vs_precision.png").exists() and (out / "report.md").read_text() == "new report"
    assert (out / "work").is_dir()


def test_progress_only_on_a_terminal_and_not_quiet(monkeypatch):
    """17. One progress display (tqdm) on stderr: shown on a terminal, silent when piped or --quiet."""
    import io
    import sys
    from macgen import progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for tty, quiet, shown in ((True, False, True), (True, True, False), (False, False, False)):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        progress.set_quiet(quiet)
        show = progress.progress_printer("dot products", "verify")
        for done in (0, 5, 10):
            show(done, 10, 1)
        assert ("verify:" in err.getvalue() and "/10 [" in err.getvalue()) == shown, err.getvalue()
    progress.set_quiet(False)


def test_report_collapses_identical_layer_rows_and_prints_1_minus_vrr():
    """19. Identical per-layer rows are one row; VRR near 1 is printed as 1 - VRR in scientific notation."""
    from macgen.flow import collapse_rows
    from macgen.precision import one_minus_vrr
    d = {"m_acc_unchunked": 12, "m_acc": 10, "chunk_size": 64, "exp_bits": 7, "vrr": 1 - 3.2e-9, "v": 1.5}
    rows = ([{"layer": f"conv{i}", "gemm": "fwd", "length": 576, "decision": d} for i in range(5)]
            + [{"layer": "fc", "gemm": "fwd", "length": 64, "decision": {**d, "m_acc": 6}}])
    collapsed = collapse_rows(rows)
    assert [layers for layers, _ in collapsed] == ["conv0 ... conv4 (5 layers)", "fc"]
    assert collapsed[0][1] == ["FWD", 576, 12, 10, 64, 7, "3.200e-09", "1.5"]
    assert one_minus_vrr(1.0 - 3.2e-9) == "3.200e-09" and f"{1 - 3.2e-9:.6f}" == "1.000000"


def test_vn_figure_draws_the_chosen_chunking_labelled(tmp_path, monkeypatch):
    """19. The v(n) figure has the chosen chunking's curves beside the unchunked ones, labelled."""
    from macgen import plots
    seen = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: seen.setdefault("fig", fig))
    plots.plot_variance_lost(tmp_path / "v.png", m_p=5, m_accs=[8, 10], lengths={"fwd": [576]},
                             compare_chunk=64)
    ax = seen["fig"].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("chunk 64" in t for t in labels) and any("no chunking" in t for t in labels)
    assert "dashed: chunk 64" in ax.get_title()


def test_atomic_write_errors_name_the_target_not_the_temporary_file():
    """10. A failed write names the file asked for, not macgen's temporary file beside it."""
    from macgen.files import write_atomic
    with pytest.raises(OSError) as exc:
        write_atomic("/proc/x.png", b"data")
    assert "cannot write /proc/x.png" in str(exc.value) and ".tmp" not in str(exc.value)
