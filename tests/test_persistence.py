"""save/load: the file format, ID types, corrupted files and atomic writes.

The round trip of every model (identical recommendations after load) is in the
shared contract, ``tests/models/contract.py``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity, TierCatalog
from recsys.io.codec import FORMAT_NAME, FORMAT_VERSION, digest
from tests.models.contract import DATA_KWARGS, in_id_order, make_log, split_log

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return make_log(seed=5, n_users=40, n_items=30, n_orders=150)


@pytest.fixture(scope="module")
def data(log: pd.DataFrame) -> Interactions:
    return Interactions.from_pandas(log, **DATA_KWARGS)


@pytest.fixture(scope="module")
def als(data: Interactions) -> ALS:
    return ALS(factors=6, iterations=3, random_state=0, num_threads=1).fit(data)


@pytest.fixture(scope="module")
def saved(als: ALS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("saved") / "als.npz"
    als.save(path)
    return path


def read_raw(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return json.loads(str(arrays.pop("__recsys__"))), arrays


def write_raw(
    path: Path, meta: dict, arrays: dict[str, np.ndarray], *, inventory: bool = True
) -> None:
    """Write a file as a hand or another tool would: inventory (unless told not to) and digest."""
    if inventory:
        meta = {**meta, "arrays": {k: [a.dtype.str, list(a.shape)] for k, a in arrays.items()}}
    if not any(a.dtype.hasobject for a in arrays.values()):  # (one test writes a pickle)
        meta = {**meta, "digest": digest(meta, arrays)}
    np.savez(path, __recsys__=np.array(json.dumps(meta)), **arrays)


def same_recommendations(a: recsys.Recommender, b: recsys.Recommender) -> None:
    users = a.user_ids_.external_ids
    pd.testing.assert_frame_equal(a.recommend(users, n=5), b.recommend(users, n=5))


# ---------------------------------------------------------------------------
# the format
# ---------------------------------------------------------------------------


def test_file_is_plain_arrays_and_json(als: ALS, saved: Path) -> None:
    assert zipfile.is_zipfile(saved)
    meta, arrays = read_raw(saved)  # allow_pickle=False: no member is a pickle
    assert meta["format"] == FORMAT_NAME and meta["format_version"] == FORMAT_VERSION == 2
    assert meta["class"] == "ALS" and meta["recsys_version"] == recsys.__version__
    assert meta["params"] == als.get_params()
    assert set(meta["arrays"]) == set(arrays)
    assert {
        "user_ids",
        "item_ids",
        "user_items.indptr",
        "user_items.indices",
        "user_items.data",
        "user_factors",
        "item_factors",
    } == set(arrays)
    assert not any(a.dtype.hasobject for a in arrays.values())
    np.testing.assert_array_equal(arrays["item_factors"], als.item_factors_)
    assert arrays["item_ids"].dtype.kind == "U"  # object strings are stored as unicode
    assert meta["state"]["item_ids"]["dtype"] == "|O"


def test_save_writes_exactly_the_path_and_replaces_it(
    als: ALS, data: Interactions, tmp_path: Path
) -> None:
    path = tmp_path / "model"  # no extension added
    als.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    pop = Popularity().fit(data)
    os.chmod(path, 0o640)
    pop.save(str(path))  # str paths too; overwrites, keeps the permissions
    assert isinstance(recsys.load(path), Popularity)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize(
    "ids",
    [
        np.array([10, 20, 30, 40]),
        np.array([10, 20, 30, 40], dtype=np.int32),
        np.array([10, 20, 30, 40], dtype=np.uint64),
        np.array([10, 20, 30, 40], dtype=object),  # Python ints in an object array
        np.array([0.5, 1.5, 2.5, 3.5]),
        np.array(["a", "b", "é", "a\x00b"], dtype=object),
        np.array(["a", "bb", "ccc", ""]),  # numpy unicode
        np.array([b"a", b"b", b"c", b"d"]),
        pd.date_range("2024-01-01", periods=4).to_numpy(),
    ],
    ids=[
        "int64",
        "int32",
        "uint64",
        "object-int",
        "float",
        "object-str",
        "unicode",
        "bytes",
        "datetime",
    ],
)
def test_id_types_round_trip_exactly(ids: np.ndarray, tmp_path: Path) -> None:
    matrix = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1]], dtype=np.float32))
    data = Interactions.from_csr(matrix, user_ids=["u1", "u2", "u3"], item_ids=ids)
    for model in (
        ItemItem(num_threads=1),
        ALS(factors=2, iterations=2, random_state=0, num_threads=1),
        Popularity(),
    ):
        model.fit(data)
        model.save(tmp_path / "m.npz")
        loaded = recsys.load(tmp_path / "m.npz")
        got, want = loaded.item_ids_.external_ids, model.item_ids_.external_ids
        assert (
            got.dtype == want.dtype
            and loaded.item_ids_._index.dtype == model.item_ids_._index.dtype
        )
        assert [type(v) for v in got.tolist()] == [type(v) for v in want.tolist()]
        assert got.tolist() == want.tolist()
        pd.testing.assert_frame_equal(
            loaded.recommend(["u1", "u3"], n=3), model.recommend(["u1", "u3"], n=3)
        )


def unsaveable_ids() -> list[np.ndarray]:
    tuples = np.empty(3, dtype=object)
    tuples[:] = [(1, 2), (3, 4), (5, 6)]
    return [
        tuples,
        np.array([1, 2.5, 3], dtype=object),  # ints and floats: 1 would come back as 1.0
        np.array([2**70, 1, 2], dtype=object),  # beyond int64
        np.array(["a", "b\x00", "c"], dtype=object),  # a trailing NUL is lost by numpy strings
    ]


@pytest.mark.parametrize("ids", unsaveable_ids(), ids=["tuple", "int+float", "bigint", "nul"])
def test_ids_that_need_pickle_are_refused_at_save(ids: np.ndarray, tmp_path: Path) -> None:
    data = Interactions.from_csr(sp.csr_matrix(np.ones((2, 3), dtype=np.float32)), item_ids=ids)
    model = Popularity().fit(data)
    with pytest.raises(TypeError, match="item_ids"):
        model.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left


def test_generator_random_state_is_saved_as_none(data: Interactions, tmp_path: Path) -> None:
    model = ALS(factors=3, iterations=2, random_state=np.random.default_rng(0), num_threads=1).fit(
        data
    )
    model.save(tmp_path / "m.npz")
    meta, _ = read_raw(tmp_path / "m.npz")
    assert meta["params"]["random_state"] is None and meta["state"]["random_state_dropped"] is True
    loaded = recsys.load(tmp_path / "m.npz")
    assert loaded.random_state is None
    same_recommendations(loaded, model)


def test_bad_hyper_parameter_is_refused(data: Interactions, tmp_path: Path) -> None:
    model = ItemItem(num_threads=1).fit(data)
    model.num_threads = [1]  # not a JSON scalar
    with pytest.raises(TypeError, match="hyper-parameter num_threads"):
        model.save(tmp_path / "m.npz")
    model.num_threads, model.k = 1, 5  # a hyper-parameter the fitted state depends on
    with pytest.raises(ValueError, match=r"changed since fit \(k: 100 -> 5\): the file would"):
        model.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_only_known_classes_are_saved(tmp_path: Path, data: Interactions) -> None:
    class MyPopularity(Popularity):
        pass

    with pytest.raises(
        TypeError, match="only ALS, EASE, ItemItem, Popularity, Repurchase, TierCatalog"
    ):
        recsys.persistence.save(MyPopularity().fit(data), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="str or os.PathLike"):
        Popularity().fit(data).save(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="compress"):
        Popularity().fit(data).save(tmp_path / "m.npz", compress="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# every model and the catalog
# ---------------------------------------------------------------------------


def test_item_item_keeps_its_baskets_for_partial_fit(log: pd.DataFrame, tmp_path: Path) -> None:
    old, new = split_log(log)
    model = ItemItem(similarity="jaccard", k=8, num_threads=1).fit(
        Interactions.from_pandas(old, **DATA_KWARGS)
    )
    model.save(tmp_path / "m.npz")
    loaded = recsys.load(tmp_path / "m.npz", expected=ItemItem)
    assert loaded._basket_ids == model._basket_ids
    new_data = Interactions.from_pandas(new, **DATA_KWARGS)
    model.partial_fit(new_data)
    loaded.partial_fit(new_data)
    same_recommendations(loaded, model)
    pd.testing.assert_frame_equal(
        loaded.similar_items(model.item_ids_.external_ids, n=5),
        model.similar_items(model.item_ids_.external_ids, n=5),
    )


def test_decayed_popularity_round_trip_and_partial_fit(log: pd.DataFrame, tmp_path: Path) -> None:
    log = log.assign(
        time=pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(log)), unit="h")
    )
    kwargs = {**DATA_KWARGS, "time_col": "time"}
    old, new = split_log(log)
    model = Popularity(segment_col="country", half_life_days=3.0).fit(
        Interactions.from_pandas(old, **kwargs)
    )
    model.save(tmp_path / "m.npz")
    loaded = recsys.load(tmp_path / "m.npz")
    same_recommendations(loaded, model)
    pd.testing.assert_frame_equal(
        loaded.recommend_for_segment("FR", n=4), model.recommend_for_segment("FR", n=4)
    )
    loaded.partial_fit(Interactions.from_pandas(new, **kwargs))
    union = Interactions.from_pandas(log, **kwargs)  # IDs sorted; partial_fit appends new ones
    refit = Popularity(segment_col="country", half_life_days=3.0).fit(
        in_id_order(union, loaded.user_ids_, loaded.item_ids_)
    )
    np.testing.assert_allclose(loaded.item_scores_, refit.item_scores_, rtol=1e-6)
    same_recommendations(loaded, refit)


def test_catalog_round_trip(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "sku": ["tv-hd", "tv-4k", "tv-oled", "mug", "mug-xl"],
            "line": ["tv", "tv", "tv", "mug", "mug"],
            "rank": [1, 2, 5, 1, 2],
            "price": [300.0, 450.0, 900.0, 5.0, 7.0],
            "hdr": [False, True, True, False, False],
            "panel": ["lcd", "lcd", "oled", None, None],
        }
    )
    catalogs = [
        TierCatalog.from_pandas(df, "sku", "line", "rank", "price", ["hdr", "panel"]),
        TierCatalog.from_mapping(
            {1: [10, 11, 12], 2: [20, 21]},
            prices={10: 1.0, 12: 3.0},
            features={11: [1, 2], 21: [3]},
        ),
        TierCatalog.from_mapping({"f": ["a"]}),
    ]
    for catalog in catalogs:
        catalog.save(tmp_path / "c.npz")
        loaded = recsys.load(tmp_path / "c.npz", expected=TierCatalog)
        pd.testing.assert_frame_equal(loaded.to_pandas(), catalog.to_pandas())
        assert (
            loaded.items.dtype == catalog.items.dtype
            and loaded.items.tolist() == catalog.items.tolist()
        )
        assert list(loaded.families) == list(catalog.families)
        for item in catalog.items:
            assert loaded.higher_tiers(item) == catalog.higher_tiers(item)
            assert loaded.features_of(item) == catalog.features_of(item)
    mixed = TierCatalog.from_mapping({"f": ["a", "b"]}, features={"a": ["wifi", 5]})
    with pytest.raises(TypeError, match="features.vocabulary mix types"):
        mixed.save(tmp_path / "bad.npz")


def test_upgrade_with_loaded_model_and_catalog(tmp_path: Path) -> None:
    log = pd.DataFrame(
        {"user": [1, 1, 2, 2, 3, 3], "item": ["64gb", "case", "128gb", "case", "256gb", "case"]}
    )
    model = ItemItem(num_threads=1).fit(
        Interactions.from_pandas(log, user_col="user", item_col="item")
    )
    catalog = TierCatalog.from_mapping(
        {"phone": ["64gb", "128gb", "256gb"]}, prices={"64gb": 500, "128gb": 600, "256gb": 800}
    )
    model.save(tmp_path / "m.npz")
    catalog.save(tmp_path / "c.npz")
    m, c = recsys.load(tmp_path / "m.npz"), recsys.load(tmp_path / "c.npz")
    pd.testing.assert_frame_equal(
        recsys.recommend_upgrade(m, c, item="64gb", user=1),
        recsys.recommend_upgrade(model, catalog, item="64gb", user=1),
    )


# ---------------------------------------------------------------------------
# bad files: always a ValueError naming the file
# ---------------------------------------------------------------------------


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        recsys.load(tmp_path / "nope.npz")
    with pytest.raises(TypeError, match="path"):
        recsys.load(3.5)
    with pytest.raises(TypeError, match="expected"):
        recsys.load(tmp_path / "nope.npz", expected=dict)


def test_not_a_model_file(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.arange(3))
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as z:
        z.writestr("readme.txt", "hi")
    for name, match in [
        ("text.npz", "not a recsys model file"),
        ("empty.npz", "not a recsys model file"),
        ("array.npy", "not a recsys model file"),
        ("other.npz", "no __recsys__ metadata"),
        ("zip.npz", "no __recsys__ metadata"),
    ]:
        with pytest.raises(ValueError, match=match) as err:
            recsys.load(tmp_path / name)
        assert name in str(err.value)


def test_pickled_members_are_never_loaded(saved: Path, tmp_path: Path) -> None:
    meta, arrays = read_raw(saved)
    arrays["item_ids"] = np.array(arrays["item_ids"].tolist(), dtype=object)  # would need pickle
    path = tmp_path / "pickled.npz"
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match="pickle"):
        recsys.load(path)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda m, a: m.update(format="something-else"), "not a recsys model file"),
        (
            lambda m, a: m.update(format_version=FORMAT_VERSION + 1),
            f"format version {FORMAT_VERSION + 1}.*upgrade recsys",
        ),
        (lambda m, a: m.update(format_version="1"), "bad format_version"),
        (lambda m, a: m.update({"class": "Transformer"}), "unknown class 'Transformer'"),
        (lambda m, a: m.pop("params"), "lacks 'params'"),
        (lambda m, a: m["params"].update(depth=3), r"no hyper-parameter\(s\) \['depth'\]"),
        (lambda m, a: m["params"].update(factors=0), "factors must be a positive integer"),
        (
            lambda m, a: a.pop("item_factors"),
            "missing arrays",
        ),  # (the inventory is kept for these two)
        (lambda m, a: a.update(extra=np.arange(3)), "unexpected arrays"),
        (
            lambda m, a: (a.pop("item_factors"), m["arrays"].pop("item_factors")),
            "KeyError: 'item_factors'",
        ),
        (lambda m, a: a.update(item_factors=a["item_factors"][:-1]), "item_factors has shape"),
        (lambda m, a: a.update(user_factors=a["user_factors"][:, :-1]), "user_factors has shape"),
        (lambda m, a: a["item_factors"].__setitem__((0, 0), np.nan), "NaN or infinite"),
        (lambda m, a: a["user_items.indices"].__setitem__(0, 10_000), "out of range"),
        (lambda m, a: a["user_items.indptr"].__setitem__(1, -4), "index pointer"),
        (lambda m, a: a["user_items.data"].__setitem__(0, -1.0), "finite and >= 0"),
        (
            lambda m, a: a.update(item_ids=a["item_ids"][[0, 0, *range(2, a["item_ids"].size)]]),
            "unique",
        ),
        (lambda m, a: m["state"]["item_ids"].update(dtype="<i8"), "stored as <U"),
    ],
)
def test_inconsistent_files(saved: Path, tmp_path: Path, change, match: str) -> None:
    meta, arrays = read_raw(saved)
    change(meta, arrays)
    path = tmp_path / "changed.npz"
    write_raw(path, meta, arrays, inventory="arrays" not in match)
    with pytest.raises(ValueError, match=match) as err:
        recsys.load(path)
    assert str(path) in str(err.value)


def test_inventory_mismatch(saved: Path, tmp_path: Path) -> None:
    meta, arrays = read_raw(saved)
    arrays["user_factors"] = arrays["user_factors"].astype(np.float64)
    write_raw(tmp_path / "x.npz", meta, arrays, inventory=False)
    with pytest.raises(ValueError, match="array 'user_factors' inflates to 19.. bytes"):
        recsys.load(tmp_path / "x.npz")  # refused from the ZIP directory, before inflating
    arrays["user_factors"] = arrays["user_factors"].astype(np.int32)  # the same size: the header
    write_raw(tmp_path / "x.npz", meta, arrays, inventory=False)
    with pytest.raises(ValueError, match="array 'user_factors' is <i4"):
        recsys.load(tmp_path / "x.npz")


def test_wrong_class(saved: Path, data: Interactions, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds an ALS, not an ItemItem"):
        recsys.load(saved, expected=ItemItem)
    TierCatalog.from_mapping({"f": ["a", "b"]}).save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="holds a TierCatalog, not a Popularity"):
        recsys.load(tmp_path / "c.npz", expected=Popularity)
    assert isinstance(recsys.load(saved, expected=ALS), ALS)
    assert isinstance(recsys.load(saved, expected=recsys.Recommender), ALS)  # any model
    with pytest.raises(ValueError, match="holds a TierCatalog, not a Recommender"):
        recsys.load(tmp_path / "c.npz", expected=recsys.Recommender)


# ---------------------------------------------------------------------------
# Model.load(path): the classmethods
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [ALS, ItemItem, Popularity])
def test_model_load_classmethod(cls: type, data: Interactions, tmp_path: Path) -> None:
    params = {"factors": 4, "iterations": 2, "random_state": 0} if cls is ALS else {}
    model = cls(num_threads=1, **params).fit(data)
    model.save(tmp_path / "m.npz")
    loaded = cls.load(tmp_path / "m.npz")
    assert type(loaded) is cls and loaded.get_params() == model.get_params()
    same_recommendations(loaded, model)
    any_model = recsys.Recommender.load(tmp_path / "m.npz")  # the base class loads any model
    assert type(any_model) is cls
    with pytest.raises(ValueError, match=f"holds an? {cls.__name__}, not a TierCatalog"):
        TierCatalog.load(tmp_path / "m.npz")
    other = ALS if cls is not ALS else Popularity
    with pytest.raises(
        ValueError, match=f"m.npz holds an? {cls.__name__}, not an? {other.__name__}"
    ):
        other.load(tmp_path / "m.npz")


def test_catalog_load_classmethod(als: ALS, saved: Path, tmp_path: Path) -> None:
    catalog = TierCatalog.from_mapping({"f": ["a", "b"]}, prices={"a": 1.0, "b": 2.0})
    catalog.save(tmp_path / "c.npz")
    loaded = TierCatalog.load(tmp_path / "c.npz")
    assert isinstance(loaded, TierCatalog)
    pd.testing.assert_frame_equal(loaded.to_pandas(), catalog.to_pandas())
    with pytest.raises(ValueError, match="als.npz holds an ALS, not a TierCatalog"):
        TierCatalog.load(saved)
    with pytest.raises(ValueError, match="c.npz holds a TierCatalog, not an ALS"):
        ALS.load(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="c.npz holds a TierCatalog, not a Recommender"):
        recsys.Recommender.load(tmp_path / "c.npz")
    with pytest.raises(FileNotFoundError):
        TierCatalog.load(tmp_path / "none.npz")
    with pytest.raises(ValueError, match="not a recsys model file"):
        (tmp_path / "junk.npz").write_bytes(b"junk")
        ALS.load(tmp_path / "junk.npz")


def test_subclasses_of_saveable_classes(data: Interactions, saved: Path, tmp_path: Path) -> None:
    class MyALS(ALS):
        pass

    with pytest.raises(TypeError, match="cannot save a MyALS"):
        MyALS(factors=2, iterations=1).fit(data).save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="expected=MyALS: recsys files hold only ALS"):
        MyALS.load(saved)  # it would come back as an ALS


def test_registry_is_every_saveable_class() -> None:
    from recsys.io import codec

    assert codec.saveable_classes() == {c.__name__: c for c in recsys.persistence.SAVEABLE}
    assert recsys.load is recsys.persistence.load
    with pytest.raises(TypeError, match="two saveable classes are named ALS"):
        codec.saveable(type("ALS", (Popularity,), {}))
    assert codec.saveable_classes()["ALS"] is ALS


def test_version_has_one_source(saved: Path) -> None:
    import tomllib

    from recsys._version import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"] and "version" not in project["project"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "recsys._version.__version__"
    assert recsys.__version__ == __version__ == read_raw(saved)[0]["recsys_version"]
    tree = ast.parse((ROOT / "recsys" / "_version.py").read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_files(als: ALS, tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "m.npz"
    als.save(path, compress=compress)
    blob = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for size in sorted(
        {0, 1, 2, 10, 100, len(blob) // 3, len(blob) // 2, len(blob) - 30, len(blob) - 1}
    ):
        cut.write_bytes(blob[:size])
        with pytest.raises(ValueError, match=r"cut\.npz") as err:
            recsys.load(cut)
        assert any(word in str(err.value) for word in ("truncated", "not a recsys model file"))


@pytest.mark.parametrize("compress", [False, True])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3
    )
)
def test_corrupted_bytes_never_give_a_wrong_model(
    als: ALS, tmp_path: Path, compress: bool, flips: list[tuple[float, int]]
) -> None:
    """Flipped bytes: a ValueError naming the file, or (a byte ZIP ignores) the very same model."""
    path = tmp_path / f"m{int(compress)}.npz"
    if not path.exists():
        als.save(path, compress=compress)
    blob = bytearray(path.read_bytes())
    for where, xor in flips:
        blob[int(where * len(blob))] ^= xor
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(blob))
    try:
        loaded = recsys.load(bad)
    except ValueError as err:
        assert "bad.npz" in str(err)
    else:
        np.testing.assert_array_equal(loaded.user_factors_, als.user_factors_)
        np.testing.assert_array_equal(loaded.item_factors_, als.item_factors_)
        assert loaded.get_params() == als.get_params() and loaded.item_ids_ == als.item_ids_
        assert (
            loaded.user_ids_ == als.user_ids_ and (loaded.user_items_ != als.user_items_).nnz == 0
        )


# ---------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------


def test_failed_save_leaves_the_old_file(
    als: ALS, data: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.npz"
    als.save(path)
    before = path.read_bytes()

    def half_write(file, **arrays):
        file.write(b"PK\x03\x04 half a model")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", half_write)
    with pytest.raises(OSError, match="disk full"):
        ItemItem(num_threads=1).fit(data).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # the temporary file is gone
    monkeypatch.undo()
    same_recommendations(recsys.load(path), als)


def test_crash_mid_save_leaves_the_old_file(als: ALS, tmp_path: Path) -> None:
    """A process killed while writing: the target still holds the previous, complete model."""
    path = tmp_path / "model.npz"
    als.save(path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, numpy as np, scipy.sparse as sp, recsys
        matrix = sp.random(50, 30, density=0.2, format="csr", random_state=0)
        data = recsys.Interactions.from_csr(matrix)
        model = recsys.Popularity().fit(data)
        real = np.savez
        def crash(file, **arrays):
            real(file, **arrays)
            file.flush()
            os._exit(3)  # killed after writing everything but before the rename
        np.savez = crash
        model.save({str(path)!r})
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=120
    )
    assert result.returncode == 3, result.stderr.decode()
    assert path.read_bytes() == before
    same_recommendations(recsys.load(path), als)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert leftovers and all(
        p.name.startswith(".model.npz.") and p.suffix == ".tmp" for p in leftovers
    )
    als.save(path)  # the next save to the path removes what the killed one left
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_next_save_removes_leftovers_of_killed_saves(als: ALS, tmp_path: Path) -> None:
    """Temporary files of dead saves to the same path go; a live save's, other paths' stay."""
    fcntl = pytest.importorskip("fcntl")
    path = tmp_path / "model.npz"
    dead = [tmp_path / ".model.npz.abc123.tmp", tmp_path / ".model.npz.def456.tmp"]
    for leftover in dead:
        leftover.write_bytes(b"PK\x03\x04 half a model")
    other = tmp_path / ".other.npz.abc123.tmp"
    other.write_bytes(b"another target's")
    live = tmp_path / ".model.npz.live00.tmp"
    with open(live, "wb") as f:  # a save in progress holds the lock on its file
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        als.save(path)
        assert live.exists()
    assert not any(p.exists() for p in dead) and other.exists()
    same_recommendations(recsys.load(path), als)
    als.save(path)  # the live file is unlocked now: a dead save's
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.abc123.tmp", "model.npz"]


def test_version_1_files_still_load(als: ALS, saved: Path, tmp_path: Path) -> None:
    """Format version 1 had no digest and no state.fit_params: such files load as before."""
    meta, arrays = read_raw(saved)
    del meta["digest"], meta["state"]["fit_params"]
    meta["format_version"] = 1
    path = tmp_path / "v1.npz"
    np.savez(path, __recsys__=np.array(json.dumps(meta)), **arrays)
    same_recommendations(recsys.load(path), als)
    arrays["user_factors"] = arrays["user_factors"] * 2  # no digest: edits go unnoticed
    np.savez(path, __recsys__=np.array(json.dumps(meta)), **arrays)
    recsys.load(path)
    meta["format_version"] = 2  # in version 2 they do not
    np.savez(path, __recsys__=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(ValueError, match="v1.npz: corrupted or edited model file"):
        recsys.load(path)
