"""Execute the book's notebooks into a Jupyter cache, as ``jupyter-book build`` would, in parallel.

``jupyter-book build`` (myst-nb's cache mode) executes notebooks one after another. This runs
each notebook exactly as that build does — :func:`execute`: jupyter-cache's
``single_nb_execution``, a kernel of this environment started in the notebook's folder, the
timeout of ``_config.yml``, no error allowed, nothing on stderr — and stores the result in the
cache the build reads, keyed as the build keys it (by the code cells). The build then renders
every notebook from the cache and executes none.

``python tools/execute_notebooks.py [CACHE] [--jobs N]`` fills ``CACHE`` (default
``_build/.jupyter_cache``, the one `make book` builds with) with every notebook not cached yet,
``N`` at a time (default: one per CPU), and prints each as it finishes. `make book` runs it
before the build; ``tests/test_notebooks.py`` uses :func:`execute` for `make test`.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
DEFAULT_CACHE = ROOT / "_build" / ".jupyter_cache"
# names the notebook cache of a `make test` run (tests/test_notebooks.py fills it, the builds read it)
CACHE_VARIABLE = "LOSSBOOK_NOTEBOOK_CACHE"


def notebooks() -> list[Path]:
    """Every notebook of the table of contents, relative to the repository."""
    names = parse_toc_yaml(ROOT / "_toc.yml")
    return sorted(Path(f"{name}.ipynb") for name in names if (ROOT / f"{name}.ipynb").is_file())


@dataclass
class Run:
    path: Path
    seconds: float
    problem: str | None  # why the notebook failed; None when it ran cleanly and was cached


@contextmanager
def _locked(cache: Path):
    """Holds a lock on the cache folder: several processes write to one cache."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def is_cached(path: Path, cache: Path) -> bool:
    notebook = nbformat.read(ROOT / path, as_version=4)
    with _locked(cache):
        try:
            get_cache(str(cache)).match_cache_notebook(notebook)
        except KeyError:
            return False
    return True


def execute(path: Path, cache: Path) -> Run:
    """Run the notebook at ``path`` as the book build does; cache it if it ran cleanly."""
    notebook = nbformat.read(ROOT / path, as_version=4)
    # The kernel draws slider figures' frames, as in the build (lossfns.plot.figure_mode).
    os.environ["LOSSBOOK_FIGURES"] = "frames"
    # One BLAS thread a kernel: kernels run one per CPU (and beside test workers), and OpenBLAS's
    # thread per core made them fight over the cores: regression/buckets took 51 s of CPU with
    # two threads, 15 s with one, every glued value the same (measured at load 4-17).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    result = single_nb_execution(notebook, cwd=str((ROOT / path).parent), timeout=TIMEOUT_S, allow_errors=False)
    if result.err is not None:
        return Run(path, result.time, f"raised:\n{result.exc_string}")
    stderr = [
        f"cell {index}: {output.text}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stderr"
    ]
    if stderr:
        return Run(path, result.time, "wrote to stderr (the build treats that as an error):\n" + "\n".join(stderr))
    with _locked(cache):
        get_cache(str(cache)).cache_notebook_bundle(
            CacheBundleIn(notebook, str(ROOT / path), data={"execution_seconds": result.time}),
            check_validity=False,
            overwrite=True,
        )
    return Run(path, result.time, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cache", nargs="?", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    cache = args.cache.resolve()
    pending = [path for path in notebooks() if not is_cached(path, cache)]
    if not pending:
        print(f"every notebook is in {cache} already")
        return 0
    print(f"executing {len(pending)} notebooks, {args.jobs} at a time, into {cache}", flush=True)
    start, failed = time.monotonic(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute, path, cache) for path in pending]
        for done, future in enumerate(as_completed(futures), 1):
            run = future.result()
            verdict = "ok" if run.problem is None else "FAILED"
            print(f"[{done}/{len(pending)}] {run.path} {run.seconds:.1f} s {verdict}", flush=True)
            if run.problem:
                failed.append(run)
    print(f"{len(pending) - len(failed)} of {len(pending)} notebooks in {time.monotonic() - start:.0f} s")
    for run in failed:
        print(f"\n{run.path} {run.problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
