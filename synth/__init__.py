"""Yosys scripts, installed as the resource package :mod:`macgen.synth` (see ``pyproject.toml``)."""
