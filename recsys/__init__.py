"""recsys: cross-sell and upsell recommendations from purchase and browsing logs.

The public names:

* data: :class:`Interactions`, :class:`IdMap`
* models: :class:`ALS`, :class:`EASE`, :class:`ItemItem`, :class:`Popularity`
  (all :class:`Recommender`), :class:`Repurchase` (buy it again, when due)
* selling: :func:`recommend_cross_sell`, :func:`recommend_upgrade`,
  :func:`recommend_bundle`, :func:`recommend_offers` (and their ``_batch``
  forms), :func:`recommend_repurchase`, :class:`TierCatalog`, :class:`Rules`,
  :class:`OfferPolicy`, :class:`SegmentedModel`
* persistence: :func:`load` (models and catalogs have ``save(path)`` and a
  ``load(path)`` classmethod; the format is in :mod:`recsys.io.codec`)
* errors: :class:`NotFittedError`, :class:`UnknownIdError`
* sub-packages loaded on first use: ``recsys.evaluation``, ``recsys.datasets``

Examples
--------
>>> import pandas as pd, recsys
>>> log = pd.DataFrame({"customer": [1, 1, 2], "product": ["phone", "case", "phone"]})
>>> data = recsys.Interactions.from_pandas(log, user_col="customer", item_col="product")
>>> recsys.ItemItem().fit(data).recommend([2], n=1)["item"].tolist()
['case']
"""

from recsys._version import __version__
from recsys.data import IdMap, Interactions
from recsys.exceptions import NotFittedError, UnknownIdError
from recsys.models import ALS, EASE, ItemItem, Popularity, Recommender, Repurchase
from recsys.persistence import load
from recsys.selling import (
    OfferPolicy,
    Rules,
    SegmentedModel,
    TierCatalog,
    TierCatalogProtocol,
    recommend_bundle,
    recommend_bundle_batch,
    recommend_cross_sell,
    recommend_cross_sell_batch,
    recommend_offers,
    recommend_offers_batch,
    recommend_repurchase,
    recommend_upgrade,
    recommend_upgrade_batch,
)

_LAZY_SUBPACKAGES = ("evaluation", "datasets")


def __getattr__(name: str) -> object:
    # evaluation and datasets are not imported by the product itself; load them on first access
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"recsys.{name}")
    raise AttributeError(f"module 'recsys' has no attribute {name!r}")


__all__ = [
    "ALS",
    "EASE",
    "IdMap",
    "Interactions",
    "ItemItem",
    "NotFittedError",
    "OfferPolicy",
    "Popularity",
    "Recommender",
    "Repurchase",
    "Rules",
    "SegmentedModel",
    "TierCatalog",
    "TierCatalogProtocol",
    "UnknownIdError",
    "__version__",
    "load",
    "recommend_bundle",
    "recommend_bundle_batch",
    "recommend_cross_sell",
    "recommend_cross_sell_batch",
    "recommend_offers",
    "recommend_offers_batch",
    "recommend_repurchase",
    "recommend_upgrade",
    "recommend_upgrade_batch",
]
