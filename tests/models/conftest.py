"""Fixtures of the model tests: the contract's purchase log and its interactions."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys import Interactions
from tests.models.contract import DATA_KWARGS, make_log


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    """The contract's purchase log (:func:`tests.models.contract.make_log` with its defaults)."""
    return make_log()


@pytest.fixture(scope="module")
def data(log: pd.DataFrame) -> Interactions:
    """``log`` as interactions, built the way the contract builds them."""
    return Interactions.from_pandas(log, **DATA_KWARGS)
