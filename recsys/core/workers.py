"""How the top-n kernels run: per-worker scratch, queries in chunks pulled by the workers.

One scheme for every top-n kernel (the same as :mod:`recsys.core.als` and
:mod:`recsys.core.cooccurrence` use):

* the caller allocates scratch arrays with one row per *worker* (marks,
  heaps, accumulators of ``n_items`` entries each) and a :class:`Schedule`;
* the kernel runs ``numba.prange(n_workers)``; worker ``w`` uses scratch row
  ``w`` only and pulls chunks of consecutive queries from a shared atomic
  counter (:func:`next_chunk`) until none is left, so uneven queries balance
  out across threads;
* for a handful of queries, or a small batch, Python calls the worker
  function itself (as worker 0, with the plain tuples the kernel takes) in
  the calling thread: no parallel region to enter, and none to compile in a
  process that only ever serves single baskets or small batches (each
  ``prange`` kernel costs seconds of compilation on first use).  The worker
  holds the per-query code in its loop instead of calling a function per
  query: Numba optimises and compiles every callee again inside each
  caller, so each compiled level adds to the first-use cost.

:func:`run` picks the path: up to :data:`SERIAL_MAX_QUERIES` queries (a single
basket at the checkout), or a batch whose estimated work is at most
:data:`SERIAL_MAX_WORK` steps (a few milliseconds), run in the calling thread
without entering a :func:`~recsys._utils.threads.parallel_section`, reusing
scratch kept per Python thread (:func:`reused`); larger batches run with one
worker per thread.  The first call of a ``prange`` kernel in a process with
an empty Numba cache compiles it (one to three seconds): a small batch, which
the calling thread scores in milliseconds, never pays that.  The path depends
on the inputs only, never on the number of threads, and both give the same
result.  Kernels leave their scratch as they found it (marks cleared, counts
at zero), which is what makes the reuse safe.

Kernels whose serial form is the same code as the parallel one (``prange``
over one worker) get it from :func:`serial_twin`: the function compiled
without ``parallel=True`` (``prange`` then runs as ``range``), cached under
a name of its own.

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
import types
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple, TypeVar

import numba
import numpy as np

from recsys._utils.threads import parallel_section
from recsys.core._intrinsics import fetch_add

# the type of what numba.njit returns (numba's own annotations do not name it)
Dispatcher = Any

__all__ = [
    "CHUNKS_PER_WORKER",
    "MAX_CHUNK",
    "SERIAL_MAX_QUERIES",
    "SERIAL_MAX_WORK",
    "Schedule",
    "marks",
    "next_chunk",
    "plain",
    "reused",
    "run",
    "schedule",
    "serial_twin",
]

#: Up to this many queries, kernels run in the calling thread: entering a parallel section
#: (thread pools, BLAS limits) costs more than scoring a few baskets.
SERIAL_MAX_QUERIES = 4

#: Batches whose estimated work (kernel specific: neighbour entries or candidates visited,
#: scores computed) is at most this many steps also run in the calling thread: a few
#: milliseconds there, where the first parallel launch of a kernel in a process with a cold
#: Numba cache compiles it for seconds.
SERIAL_MAX_WORK = 1 << 21

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
        Run the one worker in the calling thread, calling the worker
        function from Python (a handful of queries, a small batch).
        Otherwise even a single worker runs in a ``prange`` body: there
        Numba hands arrays over as bare buffers, with no reference counts to
        update, and a large batch runs up to 3x faster than in the calling
        thread, where every array taken out of a tuple or passed to a helper
        costs two atomic operations.

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
    work: int | Callable[[], int] | None = None,
) -> None:
    """Run a kernel over ``n_queries`` queries: serially when small, else in parallel.

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
    work : int or callable, optional
        Estimated steps of the whole batch (or a function returning them,
        called only for more than :data:`SERIAL_MAX_QUERIES` queries); at
        most :data:`SERIAL_MAX_WORK` runs the batch in the calling thread.
        ``None``: only the number of queries decides.

    Examples
    --------
    >>> seen = []
    >>> run(3, 0, lambda workers: workers, lambda scratch, s: seen.append((scratch, s.n_workers)))
    >>> run(500, 0, lambda w: w, lambda scratch, s: seen.append((scratch, s.in_caller)), work=500)
    >>> seen
    [(1, 1), (1, True)]
    """
    if n_queries <= SERIAL_MAX_QUERIES or _small(work):
        launch(make_scratch(1), schedule(n_queries, 1, in_caller=True))
        return
    with parallel_section(num_threads) as threads:
        workers = workers_for(threads, n_queries)
        launch(make_scratch(workers), schedule(n_queries, workers))


def _small(work: int | Callable[[], int] | None) -> bool:
    """Tell whether a batch of estimated ``work`` steps runs in the calling thread."""
    if work is None:
        return False
    steps = work() if callable(work) else work
    return steps <= SERIAL_MAX_WORK


def serial_twin(kernel: Dispatcher, *, cache: bool = True) -> Dispatcher:
    """Return ``kernel``'s function compiled without ``parallel`` (``prange`` runs as ``range``).

    For kernels whose serial form is the parallel one run by a single
    worker: calls too small to gain from threads take the twin and never
    compile the parallel kernel.  The twin has the kernel's other options
    (``nogil``, ``fastmath``), ``cache`` as given, and a name of its own
    (``<name>_serial``), so the two never share a cache entry (Numba keys
    its cache by the function's name, not by its options).

    Examples
    --------
    >>> @numba.njit(parallel=True, cache=False)
    ... def total(x):
    ...     s = 0.0
    ...     for i in numba.prange(x.shape[0]):
    ...         s += x[i]
    ...     return s
    >>> twin = serial_twin(total, cache=False)
    >>> twin.py_func.__name__, twin.targetoptions.get("parallel", False)
    ('total_serial', False)
    >>> float(twin(np.arange(4.0)))
    6.0
    """
    original = kernel.py_func
    name = f"{original.__name__}_serial"
    function = types.FunctionType(
        original.__code__, original.__globals__, name, original.__defaults__, original.__closure__
    )
    function.__qualname__ = f"{original.__qualname__}_serial"
    function.__module__ = original.__module__
    function.__doc__ = original.__doc__
    function.__kwdefaults__ = original.__kwdefaults__
    options = {
        key: value
        for key, value in kernel.targetoptions.items()
        if key not in ("parallel", "nopython")
    }
    return numba.njit(cache=cache, **options)(function)


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
