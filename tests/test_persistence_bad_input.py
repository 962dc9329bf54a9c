"""Bad-input catalogue of recsys.load: a bad path or file fails clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).  The documented
exception: a missing file raises ``FileNotFoundError``.
"""

from __future__ import annotations

import pytest

import recsys
from tests.bad_input import expect


def test_load_bad_input(tmp_path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 64)
    expect(
        lambda: recsys.load(tmp_path / "junk.npz"), ValueError, "junk.npz: not a recsys model file"
    )
    expect(lambda: recsys.load(None), TypeError, "path")
    expect(lambda: recsys.load(["a.npz"]), TypeError, "path")
    with pytest.raises(FileNotFoundError):
        recsys.load(tmp_path / "none.npz")
    with pytest.raises(IsADirectoryError):
        recsys.load(tmp_path)
