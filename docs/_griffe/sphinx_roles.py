"""Griffe extension for the docs site: Sphinx markup in recsys docstrings shown as Markdown.

The docstrings are NumPy style and read by Sphinx-aware tools too, so they use Sphinx roles
(``:class:`~recsys.ALS```, ``:func:`load```), ``::`` literal blocks and ```text <url>`_``
links. mkdocstrings renders Markdown, where those would show up verbatim; this extension
rewrites them, before the docstrings are parsed, into inline code (``ALS``, ``load``), plain
colons and Markdown links. It changes nothing on disk.
Loaded by ``mkdocs.yml`` (``extensions: [docs/_griffe/sphinx_roles.py]``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

# :class:`~recsys.ALS` -> `ALS`; :func:`recsys.load` -> `recsys.load`; :meth:`fit <x.fit>` -> `fit`
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`([^`]+)`")
# a paragraph ending in "::" introduces a literal block: keep one colon (or none on its own line)
_LITERAL = re.compile(r"(?m)(\S)::$|^\s*::$")
# `Optuna <https://optuna.org>`_ -> [Optuna](https://optuna.org)
_LINK = re.compile(r"`([^`<]+?)\s*<(https?://[^>]+)>`__?")


def _role_text(match: re.Match[str]) -> str:
    target = match.group(1).strip()
    explicit = re.fullmatch(r"(.+?)\s*<[^>]+>", target)
    if explicit:
        target = explicit.group(1)
    elif target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def to_markdown(text: str) -> str:
    """Rewrite Sphinx roles and ``::`` markers of a docstring into Markdown.

    Examples
    --------
    >>> to_markdown("See :class:`~recsys.ALS` and :func:`recsys.load`::")
    'See `ALS` and `recsys.load`:'
    >>> to_markdown("`Optuna <https://optuna.org>`_")
    '[Optuna](https://optuna.org)'
    """
    text = _LINK.sub(r"[\1](\2)", text)
    text = _ROLE.sub(_role_text, text)
    return _LITERAL.sub(lambda m: f"{m.group(1)}:" if m.group(1) else "", text)


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of one module, class, function or attribute."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
