"""Exceptions raised by recsys.

Every error a caller can trigger with bad input is a subclass of a built-in
exception (``ValueError``, ``KeyError``, ``TypeError``), so ``except ValueError``
keeps working for code that does not know about recsys.
"""

from __future__ import annotations


class NotFittedError(ValueError, AttributeError):
    """A model was used before ``fit`` was called.

    Examples
    --------
    >>> import recsys
    >>> try:
    ...     recsys.ALS().recommend([1])
    ... except recsys.NotFittedError as err:
    ...     print("not fitted")
    not fitted
    """


class UnknownIdError(KeyError):
    """An external user or item ID is not known to the model or data set.

    ``str(err)`` lists (up to ten of) the unknown IDs.

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> log = pd.DataFrame({"user": [1, 2], "item": ["a", "b"]})
    >>> model = recsys.Popularity().fit(
    ...     recsys.Interactions.from_pandas(log, user_col="user", item_col="item"))
    >>> try:
    ...     model.similar_items(["nope"])
    ... except recsys.UnknownIdError as err:
    ...     print(isinstance(err, KeyError), "nope" in str(err))
    True True
    """

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""
