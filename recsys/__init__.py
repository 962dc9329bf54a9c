"""recsys: cross-sell and upsell recommendations from purchase and browsing logs.

The public names:

* data: :class:`Interactions`, :class:`IdMap`
* models: :class:`ALS`, :class:`ItemItem`, :class:`Popularity` (all
  :class:`Recommender`)
* errors: :class:`NotFittedError`, :class:`UnknownIdError`

Examples
--------
>>> import pandas as pd, recsys
>>> log = pd.DataFrame({"customer": [1, 1, 2], "product": ["phone", "case", "phone"]})
>>> data = recsys.Interactions.from_pandas(log, user_col="customer", item_col="product")
>>> recsys.ItemItem().fit(data).recommend([2], n=1)["item"].tolist()
['case']
"""

from recsys.data import IdMap, Interactions
from recsys.exceptions import NotFittedError, UnknownIdError
from recsys.models import ALS, ItemItem, Popularity, Recommender

__version__ = "0.1.0"

__all__ = [
    "ALS",
    "IdMap",
    "Interactions",
    "ItemItem",
    "NotFittedError",
    "Popularity",
    "Recommender",
    "UnknownIdError",
    "__version__",
]
