"""Subcommands of ``macgen`` and the options and checks they share.

Every command that builds hardware takes the same MAC options, named after
:class:`macgen.config.MACConfig`'s fields; :func:`add_mac_options` adds them and
:func:`mac_config_from_args` turns them into a config. Every option is defined
here once and spelt the same in every subcommand (``-o/--output``, ``--seed``,
``--json``, ``--quiet``); size-like options are :class:`Int` with the bounds of
:mod:`macgen.limits`, printed in ``--help`` and checked while the command line is
parsed, before any work starts. :class:`Parser` makes every error one line.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from ..config import MAX_ACC_STAGES, MACConfig
from ..formats import PRESETS, ROUNDING_MODES
from ..limits import MAX_ARRAY_DIM, MAX_CHUNK_SIZE, MAX_JOBS, MAX_LENGTH, MAX_SEED


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


FORMAT_HELP = (f"a preset ({', '.join(PRESETS)}) or text like e6m9, e2m3fn (finite), e4m3fnan (nan-only), "
               f"e5m10_ftz; see docs/arithmetic.md")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line naming the option, plus where help is.

    Help shows defaults (``%(default)s`` is spelt out where an option has one) and keeps
    the description's line breaks, so that examples print as written.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        # "argument --length: must be at least 1, not 0" -> "--length must be at least 1, not 0"
        message = re.sub(r"^argument ([^:]+): (must be )", r"\1 \2", message)
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


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
    """Argparse ``type`` of ``--chunk none|auto|N``: 0 (none), ``'auto'`` or a chunk size."""

    def __init__(self):
        super().__init__(0, MAX_CHUNK_SIZE)

    @property
    def range(self) -> str:
        return f"none, auto or {super().range}"

    def __call__(self, text: str):
        if text in ("none", "auto"):
            return 0 if text == "none" else "auto"
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


SEED = Int(0, MAX_SEED)
STAGES = Stages()
CHUNK_SIZE = Int(0, MAX_CHUNK_SIZE)
CHUNK = Chunk()
LENGTH = Int(1, MAX_LENGTH)
EXP_BITS = Int(2, 62)
ARRAY_DIM = Int(1, MAX_ARRAY_DIM)
NZR = Real(0.0, 1.0, open_below=True)
CUTOFF = Real(1.0, open_below=True)


def bounded(help_text: str, kind) -> str:
    """``help_text`` with the option's bounds appended: every bound is in ``--help``."""
    return f"{help_text}; {kind.range}"


def add_seed_option(parser, *, default: int | None, what: str = "random seed") -> None:
    parser.add_argument("--seed", type=SEED, default=default, metavar="S",
                        help=bounded(f"{what} (default: {default if default is not None else 0})", SEED))


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


def _nearest_existing(path: Path) -> Path:
    for d in (path, *path.parents):
        if os.path.lexists(d):
            return d
    return Path(".")


def check_output_dir(option: str, path, *, shown=None) -> Path:
    """Check before any work that ``path`` is, or can be created as, a directory we can write to.

    Nothing is created here; the command creates it (with its parents) when it writes.
    ``shown`` is the path the message names (default ``path``).
    """
    path = Path(path)
    shown = repr(str(path if shown is None else shown))
    if os.path.lexists(path) and not path.is_dir():
        raise UsageError(f"{option} {shown}: {str(path)!r} exists and is not a directory")
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise UsageError(f"{option} {shown}: {str(base)!r} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".macgen-probe.", dir=base)
    except OSError as exc:
        raise UsageError(f"{option} {shown}: cannot create files in {str(base)!r} "
                         f"({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def check_output_file(option: str, path, *, suffixes=None) -> Path:
    """Like :func:`check_output_dir` for a file to be written (its folder is created if missing)."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower().lstrip(".") not in suffixes:
        raise UsageError(f"{option} file must end in {', '.join('.' + s for s in suffixes)}, not {str(path)!r}")
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a directory, not a file")
    check_output_dir(option, path.parent, shown=path)
    return path


def option_name(field: str) -> str:
    """``"sweep_span"`` -> ``"--sweep-span"``: a library field as the option that sets it."""
    return "--" + field.replace("_", "-")


def reraise_with_options(exc: Exception, fields) -> None:
    """Re-raise ``exc`` (a library's ``TypeError``/``ValueError``) with a leading field name
    of ``fields`` replaced by its option: the user typed options, not fields."""
    text = str(exc)
    for field in fields:
        if text.startswith(field + " "):
            raise type(exc)(option_name(field) + text[len(field):]) from None
    raise exc


def _given(args, name: str) -> bool:
    """Whether option ``name`` (as typed, ``--x-y``) has a value other than ``None``/``False``."""
    value = getattr(args, name.lstrip("-").replace("-", "_"), None)
    return value is not None and value is not False


def conflict(args, first: str, second: str, why: str = "") -> None:
    """Raise when both options ``first`` and ``second`` were given (names as typed, ``--x-y``)."""
    if _given(args, first) and _given(args, second):
        raise UsageError(f"{first} and {second} cannot be combined" + (f": {why}" if why else ""))


def add_objective_options(parser, *, stages: bool = True, jobs: bool = True) -> None:
    """``--objective`` and what the synthesis it starts needs (``--acc-stages LIST``, ``--cache``,
    ``--jobs``, ``--no-asic``; ``stages``/``jobs`` False where the command has its own)."""
    from ..choice import OBJECTIVES
    from ..pipelining import STUDY_STAGES
    g = parser.add_argument_group(
        "design choice", "With --objective, every design the model allows (no chunking, and each\n"
        "power-of-two chunk size with the accumulator it needs, at each loop depth K) is\n"
        "synthesised (cached) and the best one under the objective is chosen. Without it the\n"
        "choice is accuracy-only: the narrowest accumulator, no synthesis (docs/design-choice.md).")
    g.add_argument("--objective", choices=OBJECTIVES, default=None,
                   help="area (smallest), delay (shortest critical path) or area-delay (most throughput "
                        "per area)")
    if stages:
        g.add_argument("--acc-stages", type=STAGES, default=None, metavar="LIST",
                       help=f"loop depths K the choice considers (default: {','.join(map(str, STUDY_STAGES))})")
    g.add_argument("--cache", default=None, metavar="DIR",
                   help="synthesis cache, may be shared with sweeps (default: ~/.cache/macgen/points)")
    if jobs:
        g.add_argument("--jobs", type=Int(1, MAX_JOBS), default=2, metavar="N",
                       help="synthesis processes (default: 2)")
    g.add_argument("--no-asic", action="store_true",
                   help="measure Yosys transistors and logic levels instead of OSU018 µm² and ns (faster)")


def check_objective_args(args, *, objective_only=("--acc-stages", "--cache", "--no-asic"),
                         accuracy_options=("--chunk",)) -> None:
    """One-line errors for options that need ``--objective`` (``objective_only``) or contradict it."""
    if args.objective is None:
        for option in objective_only:
            if _given(args, option):
                raise UsageError(f"{option} needs --objective")
        return
    for option in accuracy_options:
        conflict(args, "--objective", option, "the objective chooses the accumulator and its chunking among the designs the model allows")
    if getattr(args, "method", "analytical") == "simulated":
        raise UsageError("--objective uses the analytical model; drop --method simulated")
    if args.cache is not None:
        check_output_dir("--cache", args.cache)


def design_choice(args, lengths, *, stages, model: dict):
    """Run :func:`macgen.choice.choose_design` for the command line's formats and objective,
    with a progress bar on stderr; the cache is ``--cache`` or ``~/.cache/macgen/points``."""
    from ..choice import choose_design
    from ..executor import make_executor
    from ..files import user_cache_dir
    from ..progress import bar
    cache = Path(args.cache) if args.cache is not None else user_cache_dir() / "points"
    state = {}

    def show(done, total, slug, record, error):
        if "bar" not in state:
            state["bar"] = bar(total, "design choice: synthesising candidates", unit=" designs")
        state["bar"].update(1)
        if done >= total:
            state["bar"].close()

    with make_executor(getattr(args, "jobs", 1)) as executor:
        return choose_design(lengths, args.a_format, args.b_format, objective=args.objective, stages=stages,
                             asic=not args.no_asic, cache_dir=cache, executor=executor, progress=show,
                             rounding=getattr(args, "rounding", "rne"), **model)


def add_mac_options(parser: argparse.ArgumentParser, *, acc_required: bool = False,
                    acc_help: str | None = None) -> None:
    """Add the MAC configuration options (``--a-format`` ... ``--acc-stages``).

    ``acc_help`` replaces the accumulator's help text (e.g. where the command needs it
    but reports its absence itself, through :func:`mac_config_from_args`).
    """
    group = parser.add_argument_group("MAC configuration", f"formats: {FORMAT_HELP}")
    group.add_argument("--a-format", default="e5m2", metavar="FMT", help="multiplicand format (default: e5m2)")
    group.add_argument("--b-format", default="e5m2", metavar="FMT", help="multiplier format (default: e5m2)")
    group.add_argument("--acc-format", default=None, required=acc_required, metavar="FMT",
                       help=acc_help or ("accumulator format" + ("" if acc_required else
                                                                 " (default: chosen by the precision model)")))
    group.add_argument("--rounding", choices=ROUNDING_MODES, default="rne", help="rounding mode (default: rne)")
    group.add_argument("--product-man-bits", type=Int(1, 64), default=None, metavar="P",
                       help="round the product to P fraction bits (default: exact product)")
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


def mac_config_from_args(args, *, acc_fmt=None, chunk_size=None) -> MACConfig:
    """Build a :class:`MACConfig` from :func:`add_mac_options`' options.

    ``acc_fmt``/``chunk_size`` fill in what the user left out (e.g. the model's choice).
    """
    acc = args.acc_format if args.acc_format is not None else acc_fmt
    if acc is None:
        raise UsageError("--acc-format is required here")
    chunk = args.chunk_size if args.chunk_size is not None else (chunk_size or 0)
    return MACConfig(args.a_format, args.b_format, acc, rounding=args.rounding,
                     product_man_bits=args.product_man_bits, chunk_size=chunk,
                     outer_fmt=args.outer_format, out_fmt=args.out_format,
                     mul_stages=args.mul_stages, acc_stages=1 if args.acc_stages is None else args.acc_stages)
