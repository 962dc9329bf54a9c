"""Type aliases of the public API: what an external ID and a list of them are.

recsys keeps the caller's own user and item IDs (customer numbers, SKUs,
strings, integers) and maps them to matrix rows with
:class:`recsys.data.IdMap`.  Any hashable scalar can be an ID; the aliases
below name that in signatures, instead of ``Any``.

Examples
--------
>>> from recsys.types import ExternalId, ExternalIds
>>> def first(ids: ExternalIds) -> ExternalId:
...     return list(ids)[0]
>>> first(["85123A", "22423"])
'85123A'
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeAlias

import numpy as np

__all__ = ["ExternalId", "ExternalIds"]

#: One user or item ID as the caller knows it: a string, an integer, any hashable scalar.
ExternalId: TypeAlias = Hashable

#: Several external IDs: a list, a tuple, a NumPy array, a pandas Series or Index.
ExternalIds: TypeAlias = Iterable[Hashable] | np.ndarray
