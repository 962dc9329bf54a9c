"""recsys on Apache Spark (optional extra: ``pip install "recsys[spark]"``, pyspark 4.x).

Spark does the data-sized work; the model is the same object as a local fit,
so everything downstream (``recommend``, ``recommend_cross_sell``,
``recommend_upgrade``, ``save``/``load``, evaluation) works on it unchanged.

- :func:`fit_als`: MLlib's ALS (``implicitPrefs=True``) on the cluster ->
  a fitted ``recsys.ALS``.
- :func:`fit_item_item`: item supports and pair co-occurrence counted on the
  cluster -> the same ``recsys.ItemItem`` as a local fit.
- :func:`fit_ease`: EASE's Gramian summed on the cluster, the solve on the
  driver -> the same ``recsys.EASE`` as a local fit (dense form).
- :func:`recommend`: distributed top-n for a DataFrame of users with the Numba
  core inside ``mapInArrow``, seen items joined on the cluster.
- :func:`recommend_cross_sell_batch`: the cross-sell batch of
  :mod:`recsys.selling` on a DataFrame of baskets.

pyspark is imported inside the functions only: ``import recsys.spark`` works
without it, and nothing else in recsys imports pyspark.  See ``docs/spark.md``.
"""

from recsys.spark.scoring import recommend, recommend_cross_sell_batch
from recsys.spark.training import fit_als, fit_ease, fit_item_item

__all__ = ["fit_als", "fit_ease", "fit_item_item", "recommend", "recommend_cross_sell_batch"]
