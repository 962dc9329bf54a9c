"""Models: ALS, ItemItem and Popularity, all sharing the :class:`Recommender` contract."""

from recsys.models.als import ALS
from recsys.models.base import Recommender
from recsys.models.item_item import ItemItem
from recsys.models.popularity import Popularity

__all__ = ["ALS", "ItemItem", "Popularity", "Recommender"]
