"""Subcommands of ``macgen`` and the checks they share; their options are in :mod:`.options`.

Each subcommand adds its options with :mod:`macgen.commands.options` (one definition
and one spelling per option across subcommands) and checks what argparse cannot
here: options that conflict (:func:`conflict`), output paths that must be writable
before any work starts (:func:`check_output_dir`), and the MAC configuration the
MAC options describe (:func:`mac_config_from_args`). :class:`Parser` makes every
error one line.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path

from ..config import MACConfig
from .options import TOOLS


class UsageError(Exception):
    """Bad input from the command line: one line on stderr, exit code 2."""


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


def add_kinds(subparsers, name: str, *registrars, **kwargs):
    """``macgen NAME KIND``: add command ``name`` (``kwargs``: its help, description, ...) whose
    design kinds (mac, array) are sub-subcommands; each of ``registrars`` adds one. Returns the kinds."""
    kinds = subparsers.add_parser(name, **kwargs).add_subparsers(dest="kind", metavar="KIND", required=True)
    for register in registrars:
        register(kinds)
    return kinds


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


def reraise_with_options(exc: Exception, options: dict) -> None:
    """Re-raise ``exc`` (a library's ``TypeError``/``ValueError``) with a leading field name
    of ``options`` (field -> option) replaced by its option: the user typed options, not fields."""
    text = str(exc)
    for field, option in options.items():
        if text.startswith(field + " "):
            raise type(exc)(option + text[len(field):]) from None
    raise exc


def _typed(args, name: str) -> str | None:
    """Option ``name`` (``--x-y``) as given, or ``None``: a value other than ``None``/``False``,
    or a switch of :data:`~.options.TOOLS` in either spelling (``--no-asic`` for ``--asic``).
    ``name`` must be an option of the command: a misspelt one fails loudly instead of never conflicting."""
    value = getattr(args, name.lstrip("-").replace("-", "_"))
    if value is None:
        return None
    if name in TOOLS:
        return name if value else "--no-" + name[2:]
    return None if value is False else name


def conflict(args, first: str, second: str, why: str = "") -> None:
    """Raise when both options ``first`` and ``second`` were given (names as typed, ``--x-y``)."""
    first, second = _typed(args, first), _typed(args, second)
    if first and second:
        raise UsageError(f"{first} and {second} cannot be combined" + (f": {why}" if why else ""))


def check_objective_args(args, *, objective_only=("--acc-stages", "--cache", "--asic"),
                         accuracy_options=("--chunk",)) -> None:
    """One-line errors for options that need ``--objective`` (``objective_only``) or contradict it."""
    if args.objective is None:
        for option in objective_only:
            typed = _typed(args, option)
            if typed:
                raise UsageError(f"{typed} needs --objective")
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
                             asic=args.asic is not False, cache_dir=cache, executor=executor, progress=show,
                             rounding=getattr(args, "rounding", "rne"), init=getattr(args, "init", True), **model)


def mac_config_from_args(args, *, acc_fmt=None, chunk_size=None) -> MACConfig:
    """Build a :class:`MACConfig` from :func:`.options.add_mac_options`' options.

    ``acc_fmt``/``chunk_size`` fill in what the user left out (e.g. the model's choice).
    """
    acc = args.acc_format if args.acc_format is not None else acc_fmt
    if acc is None:
        raise UsageError("--acc-format is required here")
    chunk = args.chunk_size if args.chunk_size is not None else (chunk_size or 0)
    return MACConfig(args.a_format, args.b_format, acc, rounding=args.rounding,
                     product_man_bits=args.product_man_bits, chunk_size=chunk,
                     outer_fmt=args.outer_format, out_fmt=args.out_format,
                     mul_stages=args.mul_stages, acc_stages=1 if args.acc_stages is None else args.acc_stages,
                     init=getattr(args, "init", True))
