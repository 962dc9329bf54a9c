"""Bad-input catalogue of recsys.load: a bad path or file fails clearly.

"Clearly": a ``ValueError``, ``KeyError`` or ``TypeError`` with a message naming
the problem, never a crash deep inside, a wrong answer or a silent drop (the full
rule, and the shared helpers, are in ``tests/bad_input.py``).  The documented
exception: a missing file raises ``FileNotFoundError``.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity, TierCatalog
from recsys.io.codec import digest
from tests.bad_input import expect
from tests.models.contract import DATA_KWARGS, make_log


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


# ---------------------------------------------------------------------------
# files whose contents disagree with their metadata, or with what a fitted model can be
# (issue 16, section 1): each is a ValueError naming the file and the problem
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted() -> dict[str, Any]:
    log = make_log(seed=2, n_users=30, n_items=20, n_orders=120)
    data = Interactions.from_pandas(log, **DATA_KWARGS)
    return {
        "ALS": ALS(factors=8, iterations=2, random_state=0, num_threads=1).fit(data),
        "ItemItem": ItemItem(k=8, num_threads=1).fit(data),
        "Popularity": Popularity(num_threads=1).fit(data),
    }


def read_raw(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return json.loads(str(arrays.pop("__recsys__"))), arrays


def write_raw(path: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write a file as a hand or another tool would: inventory and digest recomputed."""
    meta = {**meta, "arrays": {k: [a.dtype.str, list(a.shape)] for k, a in arrays.items()}}
    meta["digest"] = digest(meta, arrays)
    np.savez(path, __recsys__=np.array(json.dumps(meta)), **arrays)


def set_param(meta: dict, **params: Any) -> None:
    """Set hyper-parameters in the file, and the values its state says it was fitted with."""
    meta["params"].update(params)
    meta["state"]["fit_params"].update(params)


def first_row_with(indptr: np.ndarray, size: int) -> int:
    return int(np.flatnonzero(np.diff(indptr) >= size)[0])


def repeat_a_column(arrays: dict[str, np.ndarray], key: str) -> None:
    """Make the first row with two entries list its first column twice."""
    indptr, indices = arrays[f"{key}.indptr"], arrays[f"{key}.indices"]
    start = indptr[first_row_with(indptr, 2)]
    indices[start + 1] = indices[start]


def self_neighbour(arrays: dict[str, np.ndarray]) -> None:
    indptr, indices = arrays["neighbours.indptr"], arrays["neighbours.indices"]
    row = first_row_with(indptr, 1)
    indices[indptr[row]] = row


LIES: list[tuple[str, str, Callable[[dict, dict], Any], str]] = [
    ("ALS", "factors_disagree", lambda m, a: set_param(m, factors=3), "has shape"),
    ("ALS", "fit_params_disagree", lambda m, a: m["params"].update(factors=3), "disagree"),
    ("ItemItem", "binary_disagrees", lambda m, a: m["params"].update(binary=False), "disagree"),
    ("ALS", "random_state_abc", lambda m, a: m["params"].update(random_state="abc"), "random_st"),
    ("ALS", "huge_factors", lambda m, a: a["item_factors"].fill(1e30), "magnitude <="),
    ("ALS", "repeated_column", lambda m, a: repeat_a_column(a, "user_items"), "canonical CSR"),
    ("ItemItem", "repeated_neighbour", lambda m, a: repeat_a_column(a, "neighbours"), "twice"),
    ("ItemItem", "self_neighbour", lambda m, a: self_neighbour(a), "lists itself"),
    (
        "ItemItem",
        "negative_count",
        lambda m, a: a["neighbours.counts"].__setitem__(0, -1),
        r"counts must be in \[0",
    ),
    ("Popularity", "negative_score", lambda m, a: a["item_scores"].__setitem__(0, -1.0), ">= 0"),
]


@pytest.mark.parametrize("cls, name, change, match", LIES, ids=[case[1] for case in LIES])
def test_files_that_lie_are_refused(
    fitted: dict[str, Any], tmp_path: Path, cls: str, name: str, change: Callable, match: str
) -> None:
    path = tmp_path / f"{name}.npz"
    fitted[cls].save(path)
    recsys.load(path)  # the genuine file loads
    meta, arrays = read_raw(path)
    change(meta, arrays)
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match=match) as err:
        recsys.load(path)
    assert f"{name}.npz" in str(err.value)


# ---------------------------------------------------------------------------
# bounded loading (issue 16, section 2)
# ---------------------------------------------------------------------------

BOMB_BYTES = 256 << 20  # what the bomb member inflates to


def add_bomb(path: Path, name: str, size: int = BOMB_BYTES) -> None:
    """Append a member ``name`` of ``size`` zero bytes, deflated (about 1/1000 of its size)."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)


def peak_while(fn: Callable[[], Any]) -> int:
    """Run ``fn`` (which must raise ValueError) and give its peak traced allocation in bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def bomb_file(fitted: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.npz"
    fitted["Popularity"].save(path)
    add_bomb(path, "extra.npy")
    assert path.stat().st_size < BOMB_BYTES // 100
    return path


def test_unlisted_bomb_member_is_refused_before_inflating(bomb_file: Path) -> None:
    peak = peak_while(lambda: recsys.load(bomb_file))
    assert peak < 8 << 20, f"peak {peak / 2**20:.0f} MiB while refusing the bomb"
    with pytest.raises(ValueError, match="bomb.npz: .*unexpected arrays \\['extra'\\]"):
        recsys.load(bomb_file)


def test_member_larger_than_its_inventory_entry_is_refused_before_inflating(
    fitted: dict[str, Any], tmp_path: Path
) -> None:
    """A listed member whose ZIP entry declares more bytes than its dtype x shape."""
    path = tmp_path / "listed.npz"
    fitted["Popularity"].save(path)
    meta, arrays = read_raw(path)
    del arrays["item_scores"]
    inventory = {k: [a.dtype.str, list(a.shape)] for k, a in arrays.items()}
    inventory["item_scores"] = ["<f4", [20]]
    text = json.dumps({**meta, "arrays": inventory})
    np.savez(path, __recsys__=np.array(text), **arrays)
    add_bomb(path, "item_scores.npy")
    peak = peak_while(lambda: recsys.load(path))
    assert peak < 8 << 20, f"peak {peak / 2**20:.0f} MiB while refusing the bomb"
    with pytest.raises(ValueError, match="listed.npz: .*'item_scores' inflates to 268435456"):
        recsys.load(path)


def test_corrupted_file_leaks_no_file_handle(fitted: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    fitted["ALS"].save(path)
    blob = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for content in (b"PK\x03\x04" + bytes(100), blob[: len(blob) // 2], blob[:-10]):
        bad.write_bytes(content)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            with pytest.raises(ValueError, match="bad.npz"):
                recsys.load(bad)
            gc.collect()
        leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert not leaks, [str(w.message) for w in leaks]


def test_catalog_file_with_hyper_parameters_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    TierCatalog.from_mapping({"f": ["a", "b"]}).save(path)
    meta, arrays = read_raw(path)
    meta["params"] = {"price_order": "error"}
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match=r"c.npz: TierCatalog has no hyper-parameter\(s\)"):
        recsys.load(path)
