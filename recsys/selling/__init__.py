"""Selling APIs: cross-sell (what goes with the basket) and upgrades (a better version).

* :func:`recommend_cross_sell`, :func:`recommend_cross_sell_batch` —
  complements of a cart, order or product page, explained ("bought together
  with X in 312 orders, lift 4.1").
* :func:`recommend_upgrade`, :func:`recommend_upgrade_batch` — strictly
  higher tiers of a product family, for an item or for what a customer owns,
  within price caps.
* :func:`recommend_bundle`, :func:`recommend_bundle_batch` — sets bought
  together as a whole with an item ("complete the set").
* :func:`recommend_offers`, :func:`recommend_offers_batch` — one short slate
  per moment (browse, checkout, after the purchase) mixing the above, as an
  :class:`OfferPolicy` says.
* :func:`recommend_repurchase` — what each customer is due to buy again.
* :class:`TierCatalog` (or any :class:`TierCatalogProtocol`) — product
  families and tiers (several items may share one), checked against a model
  with :func:`check_catalog`;
  :class:`Rules` — business rules applied inside the top-n;
  :class:`SegmentedModel` — one model per market.
* ``return_frame=False`` gives a :class:`CrossSellResult` /
  :class:`UpgradeResult` of NumPy arrays instead of a DataFrame.

Examples
--------
>>> import pandas as pd, recsys
>>> from recsys.selling import Rules, TierCatalog, recommend_cross_sell, recommend_upgrade
>>> orders = pd.DataFrame({
...     "order": [1, 1, 2, 2, 3, 3],
...     "customer": ["a", "a", "b", "b", "c", "c"],
...     "item": ["phone-64", "case", "phone-64", "case", "phone-128", "charger"],
... })
>>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item",
...                                        basket_col="order")
>>> model = recsys.ItemItem().fit(data)
>>> catalog = TierCatalog.from_mapping({"phone": ["phone-64", "phone-128"]},
...                                    prices={"phone-64": 500, "phone-128": 600})
>>> recommend_cross_sell(model, ["phone-64"], n=2, catalog=catalog)["item"].tolist()
['case', 'charger']
>>> recommend_upgrade(model, catalog, item="phone-64")["item"].tolist()
['phone-128']
"""

from recsys.selling.bundle import (
    BUNDLE_COLUMNS,
    BundlePrior,
    BundleResult,
    bundle_prior,
    recommend_bundle,
    recommend_bundle_batch,
)
from recsys.selling.catalog import TierCatalog, TierCatalogProtocol
from recsys.selling.catalog_alignment import check_catalog
from recsys.selling.cross_sell import (
    CROSS_SELL_COLUMNS,
    DEFAULT_USER_WEIGHT,
    CrossSellResult,
    recommend_cross_sell,
    recommend_cross_sell_batch,
)
from recsys.selling.offers import (
    DEFAULT_POLICY,
    OFFER_COLUMNS,
    OfferPolicy,
    recommend_offers,
    recommend_offers_batch,
)
from recsys.selling.repurchase import RepurchaseResult, recommend_repurchase
from recsys.selling.rules import CompiledRules, Rules
from recsys.selling.segments import SegmentedModel
from recsys.selling.upgrade import (
    DEFAULT_AFFINITY_WEIGHT,
    UPGRADE_COLUMNS,
    UpgradeResult,
    recommend_upgrade,
    recommend_upgrade_batch,
)

__all__ = [
    "BUNDLE_COLUMNS",
    "CROSS_SELL_COLUMNS",
    "DEFAULT_AFFINITY_WEIGHT",
    "DEFAULT_POLICY",
    "DEFAULT_USER_WEIGHT",
    "OFFER_COLUMNS",
    "UPGRADE_COLUMNS",
    "BundleResult",
    "CompiledRules",
    "CrossSellResult",
    "OfferPolicy",
    "RepurchaseResult",
    "Rules",
    "SegmentedModel",
    "TierCatalog",
    "TierCatalogProtocol",
    "UpgradeResult",
    "check_catalog",
    "BundlePrior",
    "bundle_prior",
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
