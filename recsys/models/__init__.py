"""Models: ALS, EASE, ItemItem and Popularity share the :class:`Recommender` contract.

:class:`Repurchase` (buy it again, when it is due) is an estimator of its own:
its scores depend on the time asked about.
"""

from recsys.models.als import ALS
from recsys.models.base import Recommender
from recsys.models.ease import EASE
from recsys.models.item_item import ItemItem
from recsys.models.popularity import Popularity
from recsys.models.repeats import RepeatPurchases
from recsys.models.repurchase import Repurchase

__all__ = ["ALS", "EASE", "ItemItem", "Popularity", "Recommender", "RepeatPurchases", "Repurchase"]
