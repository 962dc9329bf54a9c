"""``import recsys`` in a notebook without ipywidgets: a working bar or none, never a warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: A Jupyter kernel as tqdm.autonotebook detects it, with ipywidgets hidden.
NOTEBOOK_WITHOUT_IPYWIDGETS = textwrap.dedent(
    """
    import sys, types, warnings

    class ZMQInteractiveShell:
        config = {"IPKernelApp": {}}

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell
    sys.modules["IPython"] = ipython
    sys.modules["ipykernel"] = types.ModuleType("ipykernel")
    sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
    sys.modules["ipywidgets"] = None  # hidden: import ipywidgets raises ImportError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import recsys
        import recsys.evaluation
        from recsys._utils.progress import progress
        with progress(3, "fit", show_progress=True) as bar:
            bar.update(3)
    shown = [f"{w.category.__name__}: {w.message}" for w in caught]
    assert not shown, shown
    print("bar:", type(bar).__module__)
    """
)


def test_import_in_a_notebook_without_ipywidgets_does_not_warn() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", NOTEBOOK_WITHOUT_IPYWIDGETS],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "IProgress" not in done.stderr and "Warning" not in done.stderr
    assert "bar: tqdm.std" in done.stdout  # the console bar: it works in a notebook too
