"""Fixtures shared by the test modules."""

import pytest


@pytest.fixture
def terminal_stderr(capsys, monkeypatch):
    """stderr (captured by ``capsys``) looks like a terminal, so commands show their progress."""
    # capsys swaps its stream in only when the test starts: patch the class of that stream
    from _pytest.capture import CaptureIO
    monkeypatch.setattr(CaptureIO, "isatty", lambda self: True)
