"""The Numba scoring core.

Kernels here work on plain NumPy arrays only: they know no model, no business
rule and no DataFrame.  Each module exposes small Python functions that check
their arguments and call the compiled kernels.

Top-n, one module per job:

* :mod:`~recsys.core.topn_factors` — exact top-n by dot product with
  norm-bound pruning (``build_factor_index``, ``topn_factor_scores``,
  ``topn_factor_scores_one``);
* :mod:`~recsys.core.topn_shared` — one ranking shared by all queries
  (``sort_scores``, ``topn_shared_scores``);
* :mod:`~recsys.core.topn_neighbours` — constrained top-n by neighbour
  similarity, with the explaining pair (``constrained_topn_neighbours``);
* :mod:`~recsys.core.topn_dense` — constrained top-n of dense score rows
  (``constrained_topn_dense``);
* :mod:`~recsys.core.topn_candidates` — constrained top-n of explicit
  candidate lists (``constrained_topn_candidates``);
* :mod:`~recsys.core.neighbour_scores` — the neighbour scores of chosen
  items (``neighbour_item_scores``).

What they share:

* :mod:`~recsys.core.constraints` — the ``Constraints`` tuple kernels take
  (exclusions, allowed masks, group caps, fill orders), one builder per rule;
* :mod:`~recsys.core.selection` — greedy constrained selection and fill of
  one query's candidates;
* :mod:`~recsys.core.heap` — the ranking order and the heaps;
* :mod:`~recsys.core.workers` — per-worker scratch and chunks pulled by the
  workers, the serial path for a handful of queries;
* :mod:`~recsys.core.checks` — argument checks, output arrays, error codes;
* :mod:`~recsys.core._scoring` — how neighbour contributions combine.

Model fitting: :mod:`~recsys.core.als` (ALS least squares) and
:mod:`~recsys.core.cooccurrence` (item-item neighbours); low-level LLVM
intrinsics in :mod:`~recsys.core._intrinsics`.

Every kernel is compiled on its first call (``cache=True``: once per machine,
then loaded from Numba's cache; see :mod:`recsys._utils.cache` for where),
never at import, and only in the specialisation the call needs: the public
functions cast their arguments to one index and one float dtype.  Calls too
small to gain from threads run serially and never compile a parallel kernel.
"""

from recsys._utils.cache import ensure_cache_dir

ensure_cache_dir()  # before any kernel is defined: Numba needs a writable cache directory
