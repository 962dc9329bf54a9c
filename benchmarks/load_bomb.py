"""Peak memory of ``recsys.load`` on zip bombs: the figures of ``docs/reliability.md``.

Two hostile files, each a genuine Popularity model plus a member of zeros that
deflates about 1000:1 (``--gib`` GiB inflated):

* ``unlisted``: the extra member is not in the file's ``__recsys__`` inventory;
* ``listed``: the member replaces ``item_scores``, whose inventory entry
  (a few floats) disagrees with the size the ZIP directory declares.

Each load runs in a fresh process, which reports the growth of its peak
resident memory (``ru_maxrss``) over the load, the time, and the error::

    python -m benchmarks.load_bomb            # 1 GiB bombs
    python -m benchmarks.load_bomb --gib 0.25
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import scipy.sparse as sp

CHILD = """
import json, resource, sys, time
import recsys
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    recsys.load(sys.argv[1])
    error = None
except Exception as err:
    error = f"{type(err).__name__}: {err}"
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mib": (after - before) / 1024, "seconds": seconds, "error": error}))
"""


def add_zeros(path: Path, name: str, size: int) -> None:
    """Append a deflated member ``name`` of ``size`` zero bytes to the archive at ``path``."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)


def make_bombs(folder: Path, size: int) -> dict[str, Path]:
    """Write the two bombs into ``folder``; return them by name."""
    import recsys

    matrix = sp.random(50, 30, density=0.2, format="csr", random_state=0)
    model = recsys.Popularity().fit(recsys.Interactions.from_csr(matrix))
    unlisted = folder / "unlisted.npz"
    model.save(unlisted)
    add_zeros(unlisted, "extra.npy", size)
    listed = folder / "listed.npz"
    model.save(listed)
    with zipfile.ZipFile(listed) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    del members["item_scores.npy"]
    with zipfile.ZipFile(listed, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    add_zeros(listed, "item_scores.npy", size)
    return {"unlisted": unlisted, "listed": listed}


def main(argv: list[str] | None = None) -> None:
    """Build the bombs, load each in a fresh process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="inflated size of each bomb")
    args = parser.parse_args(argv)
    size = int(args.gib * (1 << 30))
    with tempfile.TemporaryDirectory() as folder:
        for name, path in make_bombs(Path(folder), size).items():
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{name:9s} file {path.stat().st_size / 2**20:6.2f} MiB, inflates to "
                f"{size / 2**20:6.0f} MiB: peak RSS +{result['growth_mib']:7.1f} MiB, "
                f"{result['seconds']:5.2f} s, {result['error'][:110]}"
            )


if __name__ == "__main__":
    main()
