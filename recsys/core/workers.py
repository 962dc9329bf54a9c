"""How the top-n kernels run: per-worker scratch, queries in chunks pulled by the workers.

One scheme for every top-n kernel (the same as :mod:`recsys.core.als` and
:mod:`recsys.core.cooccurrence` use):

* the caller allocates scratch arrays with one row per *worker* (marks,
  heaps, accumulators of ``n_items`` entries each) and a :class:`Schedule`;
* the kernel runs ``numba.prange(n_workers)``; worker ``w`` uses scratch row
  ``w`` only and pulls chunks of consecutive queries from a shared atomic
  counter (:func:`next_chunk`) until none is left, so uneven queries balance
  out across threads;
* for a handful of queries a serial twin of the kernel calls the same
  worker function in the calling thread: no parallel region to enter, and
  none to compile in a process that only ever serves single baskets (each
  ``prange`` kernel costs about two seconds of compilation on first use).

:func:`run` picks the path: up to :data:`SERIAL_MAX_QUERIES` queries (a single
basket at the checkout) run in the calling thread without entering a
:func:`~recsys._utils.threads.parallel_section`, reusing scratch kept per
Python thread (:func:`reused`); larger batches run with one worker per
thread.  Kernels leave their scratch as they found it (marks cleared, counts
at zero), which is what makes the reuse safe.

Kernels take grouped arguments: named tuples of arrays and scalars
(:class:`~recsys.core.constraints.Constraints`, :class:`Schedule`, ...).
Python passes each as a plain tuple (:func:`plain`) and the kernel names it
again on entry (``c = Constraints(*c_fields)``): Numba types a plain tuple
in C but a named tuple in Python, which costs about a microsecond per tuple
and call — a quarter of a single-user top-n.  Either way the types are the
same from call to call, so each kernel compiles once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import NamedTuple, TypeVar

import numba
import numpy as np

from recsys._utils.threads import parallel_section
from recsys.core._intrinsics import fetch_add

__all__ = [
    "CHUNKS_PER_WORKER",
    "MAX_CHUNK",
    "SERIAL_MAX_QUERIES",
    "Schedule",
    "marks",
    "next_chunk",
    "plain",
    "reused",
    "run",
    "schedule",
]

#: Up to this many queries, kernels run in the calling thread: entering a parallel section
#: (thread pools, BLAS limits) costs more than scoring a few baskets.
SERIAL_MAX_QUERIES = 4

#: Queries are cut into about this many chunks per worker (dynamic load balancing) ...
CHUNKS_PER_WORKER = 16
#: ... of at most this many queries each.
MAX_CHUNK = 256

S = TypeVar("S")


class Schedule(NamedTuple):
    """How a kernel's workers share its queries.

    Attributes
    ----------
    chunk : int
        Queries per chunk.
    counter : ndarray of int64, shape (1,)
        Chunks handed out so far; zero on entry (allocated by the caller:
        Numba may privatise an allocation made inside a parallel function).
    n_workers : int
        Workers (scratch rows).
    in_caller : bool
        Run the one worker in the calling thread, with the kernel's serial
        twin (a handful of queries).  Otherwise even a single worker runs in
        a ``prange`` body: there Numba hands arrays over as bare buffers,
        with no reference counts to update, and a batch runs up to 3x faster
        than in the calling thread, where every array taken out of a tuple
        or passed to a helper costs two atomic operations.

    Notes
    -----
    Two limits of Numba's ``prange`` shape the kernels' grouped arguments:
    they are flat named tuples (a tuple nested in a tuple does not cross into
    a ``prange`` body), and no kernel calls one ``sched`` (Numba's name for
    the first parameter of the function it generates for the loop body: a
    tuple of that name used in the loop gets clobbered).  Kernels call this
    one ``chunks``.
    """

    chunk: int
    counter: np.ndarray
    n_workers: int
    in_caller: bool


def schedule(n_queries: int, n_workers: int, *, in_caller: bool = False) -> Schedule:
    """Plan ``n_queries`` queries over ``n_workers`` workers (a fresh counter).

    Examples
    --------
    >>> schedule(10_000, 2).chunk, schedule(3, 1, in_caller=True).chunk
    (256, 3)
    """
    if n_workers <= 1:
        chunk = max(n_queries, 1)
    else:
        chunk = min(MAX_CHUNK, max(1, n_queries // (n_workers * CHUNKS_PER_WORKER)))
    return Schedule(int(chunk), np.zeros(1, dtype=np.int64), int(n_workers), bool(in_caller))


@numba.njit(cache=True, nogil=True, inline="always")
def next_chunk(chunks, n_queries):  # pragma: no cover - compiled
    """Take the next chunk: queries ``lo:hi``, empty (``lo >= hi``) when all are taken.

    Examples
    --------
    >>> s = schedule(5, 1)
    >>> next_chunk(s, 5), next_chunk(s, 5)
    ((0, 5), (5, 5))
    """
    k = fetch_add(chunks.counter, 0, 1)
    lo = k * chunks.chunk
    return lo, min(lo + chunks.chunk, n_queries)


def plain(*groups: tuple) -> tuple[tuple, ...]:
    """Each named tuple of ``groups`` as a plain tuple, for a kernel call (see the module notes).

    Examples
    --------
    >>> plain(Schedule(4, np.zeros(1, np.int64), 1, False))[0][0]
    4
    """
    return tuple(map(tuple, groups))


def workers_for(threads: int, n_queries: int) -> int:
    """Workers for a parallel launch: one per thread, no more than there are queries.

    Examples
    --------
    >>> workers_for(8, 3), workers_for(2, 1000)
    (3, 2)
    """
    return max(1, min(threads, n_queries))


def run(
    n_queries: int,
    num_threads: int,
    make_scratch: Callable[[int], S],
    launch: Callable[[S, Schedule], None],
) -> None:
    """Run a kernel over ``n_queries`` queries: serially for a handful, else in parallel.

    Parameters
    ----------
    n_queries : int
    num_threads : int
        Numba threads for a parallel launch (0 = all cores).
    make_scratch : callable
        ``make_scratch(n_workers)`` returns the kernel's scratch, one row per
        worker (use :func:`reused` to keep a serial launch's scratch).
    launch : callable
        ``launch(scratch, schedule)`` calls the kernel.

    Examples
    --------
    >>> seen = []
    >>> run(3, 0, lambda workers: workers, lambda scratch, s: seen.append((scratch, s.n_workers)))
    >>> seen
    [(1, 1)]
    """
    if n_queries <= SERIAL_MAX_QUERIES:
        launch(make_scratch(1), schedule(n_queries, 1, in_caller=True))
        return
    with parallel_section(num_threads) as threads:
        workers = workers_for(threads, n_queries)
        launch(make_scratch(workers), schedule(n_queries, workers))


_SERIAL = threading.local()


def reused(key: Hashable, n_workers: int, build: Callable[[int], S]) -> S:
    """Scratch ``build(n_workers)``, kept per Python thread and reused when ``n_workers`` is 1.

    A single-basket call would otherwise allocate (and zero) a dozen arrays
    of ``n_items`` each time: tens of microseconds on a 100k-item catalog.
    ``key`` must identify everything the scratch's shape depends on.

    Examples
    --------
    >>> a = reused(("doc", 3), 1, lambda w: np.zeros((w, 3)))
    >>> a is reused(("doc", 3), 1, lambda w: np.zeros((w, 3)))
    True
    """
    if n_workers != 1:
        return build(n_workers)
    cache = getattr(_SERIAL, "buffers", None)
    if cache is None:
        cache = _SERIAL.buffers = {}
    hit = cache.get(key)
    if hit is None:
        if len(cache) > 8:
            cache.clear()
        hit = cache[key] = build(1)
    return hit


def marks(n_workers: int, n_items: int) -> np.ndarray:
    """Exclusion marks, one row of ``n_items`` per worker, all False (kept per thread when serial).

    Examples
    --------
    >>> marks(2, 5).shape
    (2, 5)
    """
    return reused(("marks", n_items), n_workers, lambda w: np.zeros((w, max(n_items, 1)), np.bool_))


def serial_buffers() -> dict:
    """Return the calling thread's reused serial scratch, by key (for tests).

    Examples
    --------
    >>> isinstance(serial_buffers(), dict)
    True
    """
    return getattr(_SERIAL, "buffers", {})
