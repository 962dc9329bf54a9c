"""Files: the array/ID codec the saveable classes use (:mod:`recsys.io.codec`).

It sits below the models and the catalog, which import it;
:mod:`recsys.persistence`, on top of them, gives :func:`recsys.load`.
"""
