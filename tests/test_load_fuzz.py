"""A loader that fuzzing cannot break: mutants of genuine files load equal or fail clearly.

Every example takes a genuine saved file (ALS, ItemItem over baskets and over
users, Popularity with segments and with decay, TierCatalog; stored or deflated) and applies
one to four mutations:

* to the JSON metadata: a key deleted, a value replaced (wrong types,
  boundary numbers, NaN, huge ints, nested containers), a key added;
* to an array member: another dtype, another shape, a value changed (NaN,
  infinities, negatives, 1e30, extreme ints), with the inventory entry
  updated or left as it was;
* to the archive: a member dropped, renamed, duplicated or added (random
  bytes, a copy of another), members reordered or recompressed;
* to the bytes of the file: flipped bytes, a truncation.

The oracle: ``recsys.load`` either gives an object whose answers equal the
original's (``recommend`` on fixed users, ids and scores exactly; the catalog's
table) or raises ``ValueError`` with the file's name in its message — never
another exception — and never traces more than ``MEMORY_LIMIT`` bytes while
loading (the genuine files are a few kB; a loader that inflated or allocated
what a mutant claims would exceed it).

Profiles: ``load-fuzz`` (the default, in CI: 300 examples, under a minute) and
``load-fuzz-release`` (20,000 examples, for release checks)::

    RECSYS_LOAD_FUZZ=release pytest tests/test_load_fuzz.py
"""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity, TierCatalog
from recsys.io.codec import digest
from tests.models.contract import DATA_KWARGS, make_log

settings.register_profile(
    "load-fuzz",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "load-fuzz-release", parent=settings.get_profile("load-fuzz"), max_examples=20_000
)
settings.register_profile(
    "load-fuzz-dev", parent=settings.get_profile("load-fuzz"), max_examples=3_000
)
PROFILE = {"release": "load-fuzz-release", "dev": "load-fuzz-dev"}.get(
    os.environ.get("RECSYS_LOAD_FUZZ", ""), "load-fuzz"
)

#: The most a load may trace (bytes); a genuine file's load traces well under 1 MiB.
MEMORY_LIMIT = 16 << 20

Member = tuple[str, bytes, int]  # name, content (inflated), compression


# ---------------------------------------------------------------------------
# the genuine files
# ---------------------------------------------------------------------------


def answers(obj: Any, users: np.ndarray) -> pd.DataFrame:
    """What the oracle compares: the recommendations of fixed users, or the catalog's table."""
    if isinstance(obj, TierCatalog):
        return obj.to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return obj.recommend(users, n=4)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Genuine files of every class, stored and deflated, with their answers."""
    log = make_log(seed=4, n_users=24, n_items=16, n_orders=90)
    data = Interactions.from_pandas(log, **DATA_KWARGS)
    hours = pd.to_timedelta(np.arange(len(log)), unit="h")
    timed = Interactions.from_pandas(
        log.assign(time=pd.Timestamp("2024-01-01") + hours), **DATA_KWARGS, time_col="time"
    )
    items = data.item_ids.external_ids
    objects = {
        "ALS": ALS(factors=4, iterations=2, random_state=0, num_threads=1).fit(data),
        "ItemItem": ItemItem(k=6, num_threads=1).fit(data),
        "ItemItemUsers": ItemItem("jaccard", k=5, use_baskets=False, num_threads=1).fit(data),
        "Popularity": Popularity(segment_col="country", num_threads=1).fit(data),
        "PopularityDecayed": Popularity(half_life_days=2.0, num_threads=1).fit(timed),
        "TierCatalog": TierCatalog.from_mapping(
            {"f": list(items[:3]), "g": list(items[4:6])},
            prices={items[0]: 1.0, items[1]: 2.5},
            features={items[1]: {"pro"}, items[5]: {"pro", "xl"}},
        ),
    }
    users = np.append(data.user_ids.external_ids[::5], 10_000)  # and an unknown user
    folder = tmp_path_factory.mktemp("genuine")
    files = {}
    for name, obj in objects.items():
        for compress in (False, True):
            path = folder / f"{name}-{int(compress)}.npz"
            obj.save(path, compress=compress)
            loaded = recsys.load(path)  # warm-up: every kernel a genuine load uses is compiled
            expected = answers(obj, users)
            pd.testing.assert_frame_equal(answers(loaded, users), expected, check_exact=True)
            files[path.name] = (path.read_bytes(), expected)
    return {"files": files, "users": users}


# ---------------------------------------------------------------------------
# archives as lists of members
# ---------------------------------------------------------------------------


def unpack(blob: bytes) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return [(i.filename, archive.read(i), i.compress_type) for i in archive.infolist()]


def pack(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are a mutation
        with zipfile.ZipFile(buf, "w") as archive:
            for name, content, compression in members:
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.compress_type = compression
                archive.writestr(info, content)
    return buf.getvalue()


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def from_npy(content: bytes) -> np.ndarray | None:
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except Exception:
        return None


def meta_index(members: list[Member]) -> int | None:
    names = [m[0] for m in members]
    return names.index("__recsys__.npy") if "__recsys__.npy" in names else None


def get_meta(members: list[Member]) -> dict | None:
    at = meta_index(members)
    raw = None if at is None else from_npy(members[at][1])
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        return None
    try:
        meta = json.loads(str(raw))
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def set_meta(members: list[Member], meta: Any) -> None:
    at = meta_index(members)
    if at is not None:
        name, _, compression = members[at]
        members[at] = (name, npy(np.array(json.dumps(meta, allow_nan=True))), compression)


# ---------------------------------------------------------------------------
# mutations
# ---------------------------------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, -1, 2, 3, 100, 2**31, 2**63, -(2**63) - 1, 10**30]),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 0.5, -1.0, 1e30, 1e300, float("nan"), float("inf")]),
    st.floats(),
    st.sampled_from(["", "abc", "auto", "<f4", "<i8", "|O", "ALS", "baskets", "users"]),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
DTYPES = [
    "<i1", "<i2", "<i4", "<i8", "<u4", "<u8", ">i4", ">i8", "<f2", "<f4", "<f8", ">f4",
    "|b1", "<U3", "|S2", "<M8[ns]", "<m8[s]", "<c8",
]  # fmt: skip
VALUES = [np.nan, np.inf, -np.inf, -1, 0, 1, 3, 1e30, -1e30, 2**31 - 1, -(2**31), 2**40]


def json_paths(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += json_paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += json_paths(value, (*path, i))
    return out


def mutate_json(data: st.DataObject, members: list[Member]) -> None:
    meta = get_meta(members)
    if meta is None:
        return
    path = data.draw(st.sampled_from(json_paths(meta)[1:]), label="json path")
    parent = meta
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["delete", "replace", "add"]), label="json action")
    if action == "delete":
        del parent[path[-1]]
    elif action == "replace":
        parent[path[-1]] = data.draw(JSON_VALUES, label="json value")
    else:
        target = parent[path[-1]]
        if isinstance(target, dict):
            target[data.draw(st.text(max_size=8), label="new key")] = data.draw(JSON_VALUES)
        elif isinstance(target, list):
            target.append(data.draw(JSON_VALUES, label="new item"))
    set_meta(members, meta)


def changed_array(data: st.DataObject, arr: np.ndarray) -> np.ndarray:
    how = data.draw(st.sampled_from(["dtype", "shape", "value", "empty"]), label="array change")
    if how == "dtype":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return arr.astype(data.draw(st.sampled_from(DTYPES), label="dtype"))
            except (TypeError, ValueError, OverflowError):
                return arr
    if how == "shape":
        flat = arr.reshape(-1)
        kind = data.draw(st.sampled_from(["shorter", "longer", "flat", "2d", "transpose"]))
        if kind == "shorter":
            return flat[:-1]
        if kind == "longer":
            return np.concatenate([flat, flat[:1]])
        if kind == "2d" and flat.size % 2 == 0:
            return flat.reshape(2, -1)
        if kind == "transpose" and arr.ndim == 2:
            return np.asfortranarray(arr.T)
        return flat
    if how == "empty":
        return arr.reshape(-1)[:0] if arr.ndim == 0 else arr[:0]
    if arr.size == 0:
        return arr
    out = arr.copy()
    at = data.draw(st.integers(0, arr.size - 1), label="element")
    value = data.draw(st.sampled_from(VALUES), label="value")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out.reshape(-1)[at] = value
        except (TypeError, ValueError, OverflowError):
            if out.dtype.kind in "iub" and out.size > 1:
                out.reshape(-1)[at] = out.reshape(-1)[(at + 1) % out.size]  # a repeated index
    return out


def mutate_array(data: st.DataObject, members: list[Member]) -> None:
    candidates = [i for i, m in enumerate(members) if m[0] != "__recsys__.npy"]
    if not candidates:
        return
    at = data.draw(st.sampled_from(candidates), label="member")
    name, content, compression = members[at]
    arr = from_npy(content)
    if arr is None:
        return
    new = changed_array(data, arr)
    members[at] = (name, npy(new), compression)
    meta = get_meta(members)
    key = name[:-4]
    if data.draw(st.booleans(), label="update inventory") and meta is not None:
        inventory = meta.get("arrays")
        if isinstance(inventory, dict) and key in inventory:
            inventory[key] = [new.dtype.str, list(new.shape)]
            set_meta(members, meta)


def mutate_members(data: st.DataObject, members: list[Member]) -> None:
    action = data.draw(
        st.sampled_from(["drop", "rename", "duplicate", "add", "reorder", "recompress"]),
        label="member action",
    )
    if not members:
        return
    at = data.draw(st.integers(0, len(members) - 1), label="member")
    name, content, compression = members[at]
    other_names = [m[0] for m in members] + ["extra.npy", "x", "__recsys__.npy", "a/b.npy"]
    if action == "drop":
        del members[at]
    elif action == "rename":
        members[at] = (
            data.draw(st.sampled_from(other_names), label="new name"),
            content,
            compression,
        )
    elif action == "duplicate":
        members.insert(at, members[at])
    elif action == "add":
        blob = data.draw(
            st.one_of(st.binary(max_size=64), st.sampled_from([m[1] for m in members])),
            label="new content",
        )
        members.append((data.draw(st.sampled_from(other_names), label="name"), blob, compression))
    elif action == "reorder":
        members[:] = data.draw(st.permutations(members), label="order")
    else:
        every = data.draw(st.booleans(), label="all members")
        method = data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
        for i in range(len(members)) if every else [at]:
            members[i] = (members[i][0], members[i][1], method)


def resign(members: list[Member]) -> bool:
    """Recompute the inventory and digest, as a tool writing the file by hand would."""
    meta = get_meta(members)
    if meta is None:
        return False
    arrays = {}
    for name, content, _ in members:
        arr = from_npy(content) if name.endswith(".npy") and name != "__recsys__.npy" else None
        if arr is not None and not arr.dtype.hasobject:
            arrays[name[:-4]] = arr
    if isinstance(meta.get("arrays"), dict):
        meta["arrays"] = {key: [a.dtype.str, list(a.shape)] for key, a in arrays.items()}
    try:
        meta["digest"] = digest(meta, arrays)
    except (TypeError, ValueError):
        return False
    set_meta(members, meta)
    return True


def mutate_bytes(data: st.DataObject, blob: bytes) -> bytes:
    if data.draw(st.booleans(), label="truncate"):
        return blob[: data.draw(st.integers(0, len(blob) - 1), label="length")]
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        out[data.draw(st.integers(0, len(out) - 1), label="at")] ^= data.draw(st.integers(1, 255))
    return bytes(out)


# ---------------------------------------------------------------------------
# the fuzz test
# ---------------------------------------------------------------------------


def works(obj: Any, users: np.ndarray) -> None:
    """The oracle for re-signed mutants: the object answers, with finite scores."""
    if isinstance(obj, TierCatalog):
        for item in obj.items:
            obj.higher_tiers(item)
        obj.to_pandas()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = obj.recommend(users, n=4)
    assert np.isfinite(recs["score"].to_numpy(dtype=float)).all(), recs


@settings(settings.get_profile(PROFILE))
@given(data=st.data())
def test_mutants_load_equal_or_fail_clearly(
    genuine: dict[str, Any], tmp_path: Path, data: st.DataObject
) -> None:
    """Mutants load to an equal object or fail clearly; re-signed ones, to a working one."""
    name = data.draw(st.sampled_from(sorted(genuine["files"])), label="genuine file")
    blob, expected = genuine["files"][name]
    members = unpack(blob)
    ops = data.draw(
        st.lists(
            st.sampled_from(["json", "array", "members", "bytes", "resign"]), min_size=1, max_size=4
        ),
        label="mutations",
    )
    mutate = {"json": mutate_json, "array": mutate_array, "members": mutate_members}
    for op in ops:
        if op in mutate:
            mutate[op](data, members)
    signed = "resign" in ops and resign(members)
    mutant = pack(members) if set(ops) - {"bytes"} else blob
    for _ in range(ops.count("bytes")):
        if mutant:
            mutant = mutate_bytes(data, mutant)
    path = tmp_path / "mutant.npz"
    path.write_bytes(mutant)

    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            loaded = recsys.load(path)
    except ValueError as err:
        assert "mutant.npz" in str(err), f"the error does not name the file: {err}"
        event("refused: " + str(err).split("mutant.npz", 1)[1][:40])
        loaded = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= MEMORY_LIMIT, f"load traced {peak / 2**20:.1f} MiB"
    if loaded is None:
        return
    event("loaded" + (" (re-signed)" if signed else ""))
    if signed:
        works(loaded, genuine["users"])
    else:
        pd.testing.assert_frame_equal(answers(loaded, genuine["users"]), expected, check_exact=True)
