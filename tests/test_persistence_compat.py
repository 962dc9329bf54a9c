"""Files written before a hyper-parameter existed still load, and mean what they meant."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import recsys
from tests.test_persistence_bad_input import read_raw, write_raw


@pytest.fixture(scope="module")
def data() -> recsys.Interactions:
    log = pd.DataFrame(
        {
            "order": [1, 1, 2, 2, 3, 4, 4],
            "customer": ["a", "a", "b", "b", "c", "a", "a"],
            "item": ["x", "y", "x", "y", "z", "x", "z"],
            "time": pd.to_datetime(["2024-01-01"] * 2 + ["2024-01-02"] * 2 + ["2024-01-03"] * 3),
        }
    )
    return recsys.Interactions.from_pandas(
        log, user_col="customer", item_col="item", basket_col="order", time_col="time"
    )


MODELS = {
    "ALS": lambda: recsys.ALS(factors=2, iterations=2, random_state=0, num_threads=1),
    "ItemItem": lambda: recsys.ItemItem(num_threads=1),
    "Popularity": lambda: recsys.Popularity(),
}


def older(path: Path, dropped: str) -> None:
    """Rewrite the file as a release that did not know ``dropped`` would have written it."""
    meta, arrays = read_raw(path)
    meta["params"].pop(dropped)
    meta["state"]["fit_params"].pop(dropped)
    write_raw(path, meta, arrays)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_file_from_before_a_new_hyper_parameter_loads(name, data, tmp_path) -> None:
    model = MODELS[name]().fit(data)
    path = tmp_path / "m.npz"
    model.save(path)
    meta, _ = read_raw(path)
    assert "half_life_days" in meta["state"]["fit_params"]  # a parameter newer than format v2
    older(path, "half_life_days")
    loaded = recsys.load(path)
    assert loaded.half_life_days is None  # the default: what the old release fitted with
    pd.testing.assert_frame_equal(
        loaded.recommend(["a", "c"], n=2), model.recommend(["a", "c"], n=2)
    )


def test_a_file_that_hides_a_hyper_parameter_from_its_state_is_still_refused(
    data, tmp_path
) -> None:
    path = tmp_path / "m.npz"
    recsys.ItemItem(num_threads=1).fit(data).save(path)
    meta, arrays = read_raw(path)
    meta["params"]["half_life_days"] = 30.0  # the file claims a decay its state never had
    meta["state"]["fit_params"].pop("half_life_days")
    write_raw(path, meta, arrays)
    with pytest.raises(ValueError, match="disagree with those the state was fitted with"):
        recsys.load(path)
