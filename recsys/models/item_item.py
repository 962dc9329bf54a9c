"""ItemItem: neighbourhood model built from item co-occurrence in baskets or user histories."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys._utils.threads import resolve_num_threads
from recsys.core.cooccurrence import SIMILARITIES, NeighbourTable, item_neighbours
from recsys.core.topn import topn_neighbour_scores
from recsys.data.interactions import Interactions
from recsys.models.base import Arrays, Recommender, csr_parts


class ItemItem(Recommender):
    """Item-item recommender: "customers who bought X also bought Y".

    Co-occurrence is counted over baskets when the interactions have them
    (``basket_col``), else over users, by a parallel Numba kernel that keeps
    only the top-``k`` neighbours of each item (memory bounded by the output,
    never a dense items × items matrix).  A user's (or basket's) score for an
    item is the sum of its similarities to the items in their history.  When
    fewer than ``n`` items have a positive score, the most popular remaining
    items fill the list (score 0), so results are exactly ``n`` whenever
    ``n`` candidates remain.

    Parameters
    ----------
    similarity : {"cosine", "jaccard", "lift", "confidence", "bm25"}
        ``cosine``: C_ab / (|a| |b|); ``jaccard``: C_ab / (n_a + n_b - C_ab);
        ``lift``: C_ab N / (n_a n_b); ``confidence``: P(b | a) = C_ab / n_a
        (asymmetric); ``bm25``: as implicit's ``BM25Recommender``.
    k : int
        Neighbours kept per item.
    min_count : int
        Ignore pairs seen together in fewer transactions than this.
    shrinkage : float
        Added to every similarity's denominator (damps rare items).
    use_baskets : bool
        Count co-occurrence over baskets when available (else over users).
    binary : bool
        Count presence (True) or use the interaction weights (False) when
        computing similarities and scoring histories.
    bm25_k1, bm25_b : float
        BM25 parameters (``similarity="bm25"`` only).
    num_threads : int
        Threads for the Numba kernels (0 = all cores).

    Attributes
    ----------
    neighbours_ : NeighbourTable
        Top-k neighbours per item with similarity and co-occurrence counts.
    similarity_matrix_ : scipy.sparse.csr_matrix
        items × items similarities (top-k per row).

    Examples
    --------
    >>> import pandas as pd, recsys
    >>> orders = pd.DataFrame({
    ...     "order": [1, 1, 2, 2, 3, 3, 4],
    ...     "customer": ["a", "a", "b", "b", "c", "c", "d"],
    ...     "item": ["phone", "case", "phone", "case", "phone", "charger", "phone"],
    ... })
    >>> data = recsys.Interactions.from_pandas(orders, user_col="customer", item_col="item", basket_col="order")
    >>> model = recsys.ItemItem(similarity="confidence").fit(data)
    >>> model.similar_items(["phone"], n=2)[["similar_item", "score"]].values.tolist()
    [['case', 0.5], ['charger', 0.25]]
    """

    def __init__(
        self,
        similarity: str = "cosine",
        k: int = 100,
        *,
        min_count: int = 1,
        shrinkage: float = 0.0,
        use_baskets: bool = True,
        binary: bool = True,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        num_threads: int = 0,
    ) -> None:
        self.similarity = similarity
        self.k = k
        self.min_count = min_count
        self.shrinkage = shrinkage
        self.use_baskets = use_baskets
        self.binary = binary
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.num_threads = num_threads

    def _fit(self, data: Interactions, show_progress: bool) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {list(SIMILARITIES)}, got {self.similarity!r}")
        resolve_num_threads(self.num_threads)
        transactions = data.transactions if self.use_baskets else data.matrix
        transactions = self._prepare(transactions)
        self.neighbours_: NeighbourTable = item_neighbours(
            transactions,
            similarity=self.similarity,
            k=self.k,
            min_count=self.min_count,
            shrinkage=self.shrinkage,
            bm25_k1=self.bm25_k1,
            bm25_b=self.bm25_b,
            num_threads=self.num_threads,
        )
        self.similarity_matrix_: sp.csr_matrix = self.neighbours_.to_csr()
        self._history = self._prepare(data.matrix)

    def _prepare(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        matrix = sp.csr_matrix(matrix, dtype=np.float32)
        if self.binary:
            matrix = sp.csr_matrix((np.ones_like(matrix.data), matrix.indices, matrix.indptr), shape=matrix.shape)
        return matrix

    # ---------------------------------------------------------------- hooks
    def _neighbour_topn(self, histories: sp.csr_matrix, n: int, exclude: tuple[np.ndarray, np.ndarray],
                        item_allowed: np.ndarray | None) -> Arrays:
        sim = self.similarity_matrix_
        q_indptr, q_indices = csr_parts(histories)
        return topn_neighbour_scores(
            q_indptr, q_indices, histories.data.astype(np.float32, copy=False),
            sim.indptr.astype(np.int64, copy=False), sim.indices.astype(np.int32, copy=False), sim.data,
            n, *exclude, item_allowed=item_allowed, fill_order=self._popular_order[0],
            num_threads=self.num_threads,
        )

    def _topn_users(self, user_rows: np.ndarray, n: int, exclude: tuple[np.ndarray, np.ndarray],
                    item_allowed: np.ndarray | None) -> Arrays:
        return self._neighbour_topn(self._history[user_rows], n, exclude, item_allowed)

    def _topn_histories(self, histories: sp.csr_matrix, n: int, exclude: tuple[np.ndarray, np.ndarray],
                        item_allowed: np.ndarray | None) -> Arrays:
        return self._neighbour_topn(self._prepare(histories), n, exclude, item_allowed)

    def _topn_similar(self, item_rows: np.ndarray, n: int, item_allowed: np.ndarray | None) -> Arrays:
        m = item_rows.size
        one_hot = sp.csr_matrix((np.ones(m, dtype=np.float32), item_rows, np.arange(m + 1)),
                                shape=(m, len(self.item_ids_)))
        exclude = (np.arange(m + 1, dtype=np.int64), item_rows.astype(np.int32))
        return self._neighbour_topn(one_hot, n, exclude, item_allowed)

    def _score_users(self, user_rows: np.ndarray, item_rows: np.ndarray) -> np.ndarray:
        return self._score_histories(self._history[user_rows], item_rows)

    def _score_histories(self, histories: sp.csr_matrix, item_rows: np.ndarray) -> np.ndarray:
        scores = self._prepare(histories) @ self.similarity_matrix_[:, item_rows]
        return np.asarray(scores.todense(), dtype=np.float32)
