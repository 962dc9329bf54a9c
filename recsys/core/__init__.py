"""The Numba scoring core.

Kernels here work on plain NumPy arrays only: they know no model, no business
rule and no DataFrame.  Each module exposes small Python functions that check
their arguments and call the compiled kernels inside
:func:`recsys._utils.threads.parallel_section`.
"""
