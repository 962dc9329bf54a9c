"""The version of recsys: one place, no imports.

``pyproject.toml`` reads it (``[tool.setuptools.dynamic]``), ``recsys.__version__``
re-exports it and :mod:`recsys.io.codec` writes it into every saved file.
"""

__version__ = "0.1.0"
