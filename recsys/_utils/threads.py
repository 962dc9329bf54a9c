"""Thread control around Numba kernels.

Numba's parallel kernels and the BLAS library each start their own thread
pool.  Running both at full width oversubscribes the cores, so every call into
a parallel kernel goes through :func:`parallel_section`, which

* sets the number of Numba threads for the calling thread,
* optionally (``limit_blas=True``) limits BLAS to one thread while the kernel
  runs — needed only around code that calls BLAS from Numba threads; none of
  our kernels does, so model ``fit`` methods instead wrap their whole loop in
  :func:`blas_threads` once, and
* serialises kernel launches when Numba's ``workqueue`` threading layer is in
  use, because that layer is not safe to enter from several Python threads at
  once (the ``omp`` and ``tbb`` layers are, and are then not locked).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numba

if TYPE_CHECKING:
    from threadpoolctl import ThreadpoolController

_launch_lock = threading.RLock()
_controller: ThreadpoolController | None = None


def _blas_controller() -> ThreadpoolController:
    """One controller for the process: scanning the loaded libraries costs milliseconds.

    threadpoolctl is imported here, on first use, not with recsys (40 ms of every import).
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def resolve_num_threads(num_threads: int) -> int:
    """Turn the user's ``num_threads`` into a concrete count.

    ``0`` (the default everywhere) means "all cores Numba may use".

    Examples
    --------
    >>> resolve_num_threads(1)
    1
    >>> resolve_num_threads(0) >= 1
    True
    """
    if not isinstance(num_threads, (int,)) or isinstance(num_threads, bool):
        raise TypeError(f"num_threads must be an int, got {type(num_threads).__name__}")
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0 (0 = all cores), got {num_threads}")
    # numba.config sets its settings through globals(), so type checkers cannot see them.
    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    if num_threads == 0:
        return max(1, min(available, _cpu_count()))
    return min(num_threads, available)


@functools.lru_cache(maxsize=1)
def _cpu_count() -> int:
    """Return ``os.cpu_count()``, asked once.

    It reads /proc or sysfs: ~20 µs on every serving call otherwise.
    """
    return os.cpu_count() or 1


def _layer_is_threadsafe() -> bool:
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: layer not chosen
        return False
    return layer in ("omp", "tbb")


@contextlib.contextmanager
def parallel_section(num_threads: int = 0, *, limit_blas: bool = False) -> Iterator[int]:
    """Context in which to launch a parallel Numba kernel.

    Yields the concrete number of threads in use.  Entering it costs
    microseconds, so it suits single-query serving paths too.

    Examples
    --------
    >>> with parallel_section(1) as threads:
    ...     threads
    1
    """
    threads = resolve_num_threads(num_threads)
    lock: contextlib.AbstractContextManager = (
        contextlib.nullcontext() if _layer_is_threadsafe() else _launch_lock
    )
    blas: contextlib.AbstractContextManager = (
        _blas_controller().limit(limits=1, user_api="blas")
        if limit_blas
        else contextlib.nullcontext()
    )
    with lock, blas:
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            yield threads
        finally:
            numba.set_num_threads(previous)


@contextlib.contextmanager
def blas_threads(num_threads: int = 0) -> Iterator[None]:
    """Limit BLAS to ``num_threads`` threads (0 = leave as configured)."""
    if num_threads == 0:
        yield
        return
    with _blas_controller().limit(limits=num_threads, user_api="blas"):
        yield
