"""Every public function, class and method has an ``Examples`` section with a doctest.

``pytest --doctest-modules`` runs the examples; this test makes sure they exist. The public
surface is what the package exports: ``recsys.__all__``, ``recsys.selling.__all__``,
``recsys.evaluation.__all__``, ``recsys.data.__all__``, ``recsys.datasets.__all__``,
``recsys.datasets.catalogs``, ``recsys.persistence`` and ``recsys.io.codec`` (plus the optional
modules below when they can be imported). For a class,
its public methods (including class and static methods) defined in recsys count too; properties
and the methods of a ``Protocol`` (an interface, shown by the class's own example) do not.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

MODULES = [
    "recsys",
    "recsys.selling",
    "recsys.evaluation",
    "recsys.data",
    "recsys.datasets",
    "recsys.datasets.catalogs",
    "recsys.persistence",
    "recsys.io.codec",
]
# Public modules added during this release: checked once they exist (spark needs pyspark).
OPTIONAL_MODULES = ["recsys.models.ease", "recsys.evaluation.tune", "recsys.spark"]

# Names still without an example, in files whose owners are adding them; this list only shrinks.
ALLOWED_MISSING: set[str] = set()

_EXAMPLES = re.compile(r"^Examples\n-{8,}\n(?:.*\n)*?\s*>>> ", re.MULTILINE)


def _is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False))


def _public_objects() -> Iterator[tuple[str, Any]]:
    """Yield ``(qualified name, object)`` for every public function, class and method."""
    modules = list(MODULES)
    for name in OPTIONAL_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        modules.append(name)
    seen: set[int] = set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [
                n
                for n, v in vars(module).items()
                if not n.startswith("_") and getattr(v, "__module__", None) == module_name
            ]
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            if not getattr(obj, "__module__", "").startswith("recsys"):
                continue
            seen.add(id(obj))
            yield f"{obj.__module__}.{obj.__qualname__}", obj
            if not inspect.isclass(obj) or _is_protocol(obj):
                continue
            for attr_name, attr in vars(obj).items():
                if attr_name.startswith("_"):
                    continue
                if isinstance(attr, (classmethod, staticmethod)):
                    attr = attr.__func__
                if not inspect.isfunction(attr) or id(attr) in seen:
                    continue
                seen.add(id(attr))
                yield f"{obj.__module__}.{attr.__qualname__}", attr


PUBLIC = dict(_public_objects())


def _has_examples(obj: Any) -> bool:
    return bool(_EXAMPLES.search(inspect.getdoc(obj) or ""))


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_has_an_example(name: str) -> None:
    if name in ALLOWED_MISSING:
        pytest.xfail("on the allow-list: the file's owner adds the example")
    assert _has_examples(PUBLIC[name]), (
        f"{name} has no 'Examples' section with a doctest (>>>) in its NumPy docstring"
    )


def test_allow_list_only_names_public_objects_without_examples() -> None:
    stale = sorted(n for n in ALLOWED_MISSING if n in PUBLIC and _has_examples(PUBLIC[n]))
    unknown = sorted(n for n in ALLOWED_MISSING if n not in PUBLIC)
    assert stale == [], f"these now have examples, remove them from ALLOWED_MISSING: {stale}"
    assert unknown == [], f"these are not public names (renamed?): {unknown}"


def test_the_walk_finds_the_public_surface() -> None:
    # guards against a walk that silently finds nothing (and so checks nothing)
    for name in [
        "recsys.data.interactions.Interactions.from_pandas",
        "recsys.selling.cross_sell.recommend_cross_sell",
        "recsys.evaluation.ab.ab_summary",
        "recsys.datasets.loaders.load_online_retail_sample",
        "recsys.datasets.catalogs.online_retail_size_tiers",
    ]:
        assert name in PUBLIC
