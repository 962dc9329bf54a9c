"""scikit-learn's estimator contract: get_params/set_params, and clone() of every estimator.

scikit-learn is a test dependency only (the ``dev`` extra); recsys itself never imports it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import numpy as np
import pandas as pd
import pytest

import recsys
from recsys import ALS, Interactions, ItemItem, Popularity
from recsys.exceptions import NotFittedError
from recsys.models.base import ParamsMixin
from recsys.models.ease import EASE
from recsys.models.repurchase import Repurchase

sklearn_base = pytest.importorskip("sklearn.base")
model_selection = pytest.importorskip("sklearn.model_selection")

#: Non-default hyper-parameters of each estimator (a clone must keep them).
NON_DEFAULT: dict[type, dict[str, Any]] = {
    ALS: {"factors": 4, "iterations": 2, "random_state": 0, "num_threads": 1, "alpha": 2.0},
    ItemItem: {"similarity": "cosine", "k": 7, "shrinkage": 1.5, "num_threads": 1},
    Popularity: {"segment_col": "country", "num_threads": 1},
    EASE: {"l2": 7.5, "rows": "users", "binary": False, "num_threads": 1},
    Repurchase: {"repeat_prior": 3.0, "interval_prior": 10.0, "personal_prior": 2.0},
}


def estimator_classes() -> list[type]:
    """Every concrete class of the package with ``get_params`` and ``set_params``."""
    found = set()
    for info in pkgutil.walk_packages(recsys.__path__, "recsys."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                obj.__module__.startswith("recsys.")
                and callable(getattr(obj, "get_params", None))
                and callable(getattr(obj, "set_params", None))
                and not inspect.isabstract(obj)
                and obj is not ParamsMixin
            ):
                found.add(obj)
    return sorted(found, key=lambda c: c.__qualname__)


ESTIMATORS = estimator_classes()


def same_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal parameters; random generators (which clone deep-copies) by their state."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        other = b[key]
        if isinstance(value, np.random.Generator):
            if not isinstance(other, np.random.Generator):
                return False
            if value.bit_generator.state != other.bit_generator.state:
                return False
        elif value != other:
            return False
    return True


def test_every_model_is_found() -> None:
    assert {ALS, ItemItem, Popularity} <= set(ESTIMATORS)
    assert set(ESTIMATORS) <= set(NON_DEFAULT), "add the new estimator to NON_DEFAULT"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_clone_keeps_the_parameters(cls: type) -> None:
    for params in ({}, NON_DEFAULT[cls]):
        model = cls(**params)
        twin = sklearn_base.clone(model)
        assert type(twin) is cls and twin is not model
        assert same_params(twin.get_params(), model.get_params())
        assert same_params(twin.get_params(deep=False), model.get_params(deep=False))
        assert repr(twin) == repr(model)
    generator = np.random.default_rng(3)
    if "random_state" in cls().get_params():
        twin = sklearn_base.clone(cls(random_state=generator))
        assert twin.random_state is not generator  # an independent copy, in the same state
        assert same_params(twin.get_params(), {**cls().get_params(), "random_state": generator})


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_clone_of_a_fitted_model_is_unfitted(cls: type, data: Interactions) -> None:
    if cls is Repurchase:  # fitted on timed orders: tests/selling/test_repurchase.py clones it
        pytest.skip("Repurchase needs orders with times")
    model = cls(**NON_DEFAULT[cls]).fit(data)
    twin = sklearn_base.clone(model)
    assert not hasattr(twin, "item_ids_") and not hasattr(twin, "_fit_params")
    with pytest.raises(NotFittedError):
        twin.recommend(data.user_ids.external_ids[:2])
    assert same_params(twin.get_params(), model.get_params())
    users = data.user_ids.external_ids[:5]
    pd.testing.assert_frame_equal(twin.fit(data).recommend(users), model.recommend(users))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_set_params(cls: type) -> None:
    model = cls()
    assert model.set_params() is model
    assert model.set_params(**NON_DEFAULT[cls]) is model
    assert same_params(model.get_params(), cls(**NON_DEFAULT[cls]).get_params())
    with pytest.raises(ValueError, match=f"{cls.__name__} has no parameter 'nope'; valid: "):
        model.set_params(nope=1)
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        model.set_params(nope__deeper=1)
    if "num_threads" in model.get_params():
        with pytest.raises(ValueError, match="has no parameters: cannot set 'num_threads__x'"):
            model.set_params(num_threads__x=1)
    before = model.get_params()
    with pytest.raises(ValueError):
        model.set_params(num_threads=4, nope=1)  # checked before anything is set
    assert model.get_params() == before


def test_parameter_grid_of_clones() -> None:
    """What scikit-learn's model-selection tools do: clone, then set each candidate's parameters."""
    base = ItemItem(num_threads=1)
    grid = model_selection.ParameterGrid({"k": [5, 10], "similarity": ["cosine", "jaccard"]})
    candidates = [sklearn_base.clone(base).set_params(**params) for params in grid]
    assert sorted((m.k, m.similarity) for m in candidates) == [
        (5, "cosine"),
        (5, "jaccard"),
        (10, "cosine"),
        (10, "jaccard"),
    ]
    assert base.k == 100  # the original is untouched


class Blend(ParamsMixin):
    """A meta-estimator holding another one, to test the nested (``deep``) parameters."""

    def __init__(self, model: Any = None, weight: float = 1.0) -> None:
        self.model = model
        self.weight = weight


def test_nested_parameters() -> None:
    blend = Blend(ALS(factors=3), weight=0.5)
    deep = blend.get_params(deep=True)
    assert deep["model__factors"] == 3 and deep["weight"] == 0.5 and deep["model"] is blend.model
    assert "model__factors" not in blend.get_params(deep=False)
    blend.set_params(model__factors=5, model__alpha=2.0, weight=2.0)
    assert (blend.model.factors, blend.model.alpha, blend.weight) == (5, 2.0, 2.0)
    blend.set_params(model=ItemItem(), model__k=9)  # the new model gets the nested value
    assert isinstance(blend.model, ItemItem) and blend.model.k == 9
    with pytest.raises(ValueError, match="ItemItem has no parameter 'factors'"):
        blend.set_params(model__factors=2)
    twin = sklearn_base.clone(blend)
    assert twin.model is not blend.model and twin.get_params()["model__k"] == 9
    assert Blend().get_params(deep=True) == {"model": None, "weight": 1.0}


def test_set_params_on_a_fitted_model(data: Interactions) -> None:
    """The learned state stays as fitted; partial_fit refuses, fit applies the new values."""
    model = ALS(**NON_DEFAULT[ALS]).fit(data)
    users = data.user_ids.external_ids[:5]
    before = model.recommend(users)
    model.set_params(factors=6, num_threads=2)
    assert model.factors == 6 and model.item_factors_.shape[1] == 4
    pd.testing.assert_frame_equal(model.recommend(users), before)
    with pytest.raises(ValueError, match="hyper-parameters changed since fit"):
        model.partial_fit(data)
    assert model.fit(data).item_factors_.shape[1] == 6
