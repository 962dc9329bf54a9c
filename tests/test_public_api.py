"""The names the README and the architecture promise at the top level of ``recsys``."""

from __future__ import annotations

import importlib

import pytest

import recsys

PROMISED = [
    "Interactions",
    "ALS",
    "ItemItem",
    "Popularity",
    "Recommender",
    "TierCatalog",
    "recommend_cross_sell",
    "recommend_upgrade",
    "load",
    "NotFittedError",
]


@pytest.mark.parametrize("name", PROMISED)
def test_promised_name_is_public(name: str) -> None:
    assert name in recsys.__all__
    assert getattr(recsys, name) is not None


def test_every_exported_name_exists() -> None:
    missing = [name for name in recsys.__all__ if not hasattr(recsys, name)]
    assert missing == []


@pytest.mark.parametrize("name", ["evaluation", "datasets"])
def test_lazy_subpackages(name: str) -> None:
    assert getattr(recsys, name) is importlib.import_module(f"recsys.{name}")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        recsys.nope  # noqa: B018
