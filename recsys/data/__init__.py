"""Data layer: interaction logs → sparse matrices with explicit ID maps."""

from recsys.data.ids import IdMap
from recsys.data.interactions import Interactions, as_interactions

__all__ = ["IdMap", "Interactions", "as_interactions"]
