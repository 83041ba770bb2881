"""One spelling per option across ``macgen``'s subcommands, each defined once (macgen/commands/options.py).

Every subcommand registers its parser as ``macgen.cli.build_parser`` does, while each
argparse action records where in macgen it was added: an option that several
subcommands take must come from one line of ``options.py``.
"""

import argparse
import importlib
import inspect
from collections import defaultdict
from pathlib import Path

import pytest

from macgen.cli import COMMANDS, main
from macgen.commands import Parser

OPTIONS_PY = Path(importlib.import_module("macgen.commands.options").__file__)


@pytest.fixture(scope="module")
def options():
    """``{(command, option string): [(action, file, line), ...]}`` for every option of every subcommand."""
    found = defaultdict(list)
    init = argparse.Action.__init__
    command = None

    def recording(self, option_strings, *args, **kwargs):
        init(self, option_strings, *args, **kwargs)
        # the first caller outside argparse and the action classes' constructors (Switch)
        site = next(f for f in inspect.stack(0)[1:] if Path(f.filename).name != "argparse.py"
                    and f.function != "__init__")
        for option in option_strings:
            found[command, option].append((self, Path(site.filename), site.lineno))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(argparse.Action, "__init__", recording)
        for command in COMMANDS:
            sub = Parser(prog="macgen").add_subparsers(dest="command")
            importlib.import_module(f"macgen.commands.{command}").register(sub)
    return found


def _commands_of(options, option):
    return {c for c, o in options if o == option}


@pytest.mark.parametrize("gone", ["--exp-bits", "--man-bits", "--chunks", "--arrays", "--trials"])
def test_option_old_spelling_is_gone(options, gone):
    assert not _commands_of(options, gone)


def test_option_every_no_switch_has_its_positive_and_jobs_has_j(options):
    for (command, option), sites in options.items():
        for action, _, _ in sites:
            # sweep's --no-plot skips the figures it writes by default; plan's --plot FILE asks for one
            if option.startswith("--no-") and option != "--no-plot":
                assert "--" + option[5:] in action.option_strings, (command, option)
                assert action.dest == option[5:].replace("-", "_"), (command, option)
            if option == "--jobs":
                assert action.option_strings == ["-j", "--jobs"], command
    for tool in ("--fpga", "--asic", "--pnr"):
        for command in _commands_of(options, tool):
            assert (command, "--no-" + tool[2:]) in options


def test_option_shared_by_subcommands_is_defined_once(options):
    """An option two subcommands take is added by one line of options.py (a list of values,
    metavar LIST, is the list form of the option of the same name: a spelling, not a definition)."""
    sites = defaultdict(set)
    commands = defaultdict(set)
    for (command, option), found in options.items():
        if option in ("-h", "--help"):       # argparse's own, in every parser
            continue
        for action, file, line in found:
            key = option, action.metavar == "LIST"
            sites[key].add((file, line))
            commands[key].add(command)
    shared = {key for key in commands if len(commands[key]) > 1}
    assert {("--acc-exp-bits", False), ("-j", False), ("--fpga", False), ("--asic", False),
            ("--a-format", False), ("--acc-stages", True)} <= shared
    for key in shared:
        assert len(sites[key]) == 1 and next(iter(sites[key]))[0] == OPTIONS_PY, (key, sites[key])


@pytest.mark.parametrize("argv, attr, value", [
    (["area", "mac", "--acc-format", "e6m9"], "fpga", True),
    (["area", "mac", "--acc-format", "e6m9", "--no-fpga"], "fpga", False),
    (["sweep"], "fpga", False),
    (["sweep", "--fpga"], "fpga", True),
    (["flow", "-o", "x", "--no-asic"], "asic", False),
    (["flow", "-o", "x", "--pnr"], "pnr", True),
    (["plan", "--length", "8"], "asic", None),
    (["plan", "--length", "8", "--no-asic"], "asic", False),
    (["flow", "-o", "x", "-j", "3"], "jobs", 3),
    (["plan", "--length", "8", "-j", "3"], "jobs", 3),
    (["generate", "mac", "--acc-format", "e6m9", "--no-init", "-o", "x"], "init", False),
    (["flow", "-o", "x"], "init", True),
])
def test_option_both_spellings_set_one_attribute(argv, attr, value):
    from macgen.cli import build_parser
    assert getattr(build_parser().parse_args(argv), attr) == value


def test_option_no_init_only_for_a_standalone_mac(capsys):
    for argv in (["generate", "array", "--rows", "2", "--cols", "2", "--acc-format", "e6m9", "--no-init", "-o", "x"],
                 ["area", "array", "--acc-format", "e6m9", "--no-init"]):
        assert main(argv) == 2
        assert "unrecognized arguments: --no-init" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["plan", "--length", "8"], ["generate", "mac", "--length", "8", "-o", "x"]])
def test_option_switch_needing_objective_is_named_as_typed(capsys, command):
    assert main([*command, "--no-asic"]) == 2
    assert "--no-asic needs --objective" in capsys.readouterr().err
    assert main([*command, "--asic"]) == 2
    assert "--asic needs --objective" in capsys.readouterr().err


def test_flow_no_init_reaches_the_flow(tmp_path, monkeypatch, capsys):
    from macgen import flow
    seen = []

    def stop(opts, out, progress):
        seen.append(opts)
        raise ValueError("stopped before any work")
    monkeypatch.setattr(flow, "run_flow", stop)
    assert main(["flow", "--no-init", "-o", str(tmp_path / "out")]) == 2
    assert main(["flow", "-o", str(tmp_path / "out")]) == 2
    assert [opts.init for opts in seen] == [False, True]
    assert "stopped before any work" in capsys.readouterr().err


def test_flow_no_fpga_skips_place_and_route_too(tmp_path, monkeypatch, capsys):
    # --pnr needs --fpga in every command: without the FPGA flows there is no Fmax either.
    from macgen import flow
    seen = []

    def stop(opts, out, progress):
        seen.append((opts.fpga, opts.pnr))
        raise ValueError("stopped before any work")
    monkeypatch.setattr(flow, "run_flow", stop)
    for argv in (["--no-fpga"], [], ["--no-pnr"], ["--no-fpga", "--pnr"]):
        assert main(["flow", *argv, "-o", str(tmp_path / "out")]) == 2
    assert seen == [(False, False), (True, True), (True, False), (False, False)]
    capsys.readouterr()
