"""Every notebook of the book runs, once per test run, exactly as the book build runs it.

Each notebook is executed the way myst-nb's cache mode executes it during ``jupyter-book
build`` (jupyter-cache's ``single_nb_execution``: a kernel of this environment started in the
notebook's folder, the build's timeout from ``_config.yml``, no error allowed), and must write
nothing to stderr (the build's ``stderr_output: error``). The executed notebook then goes into a
Jupyter cache, keyed as the build keys it (by the code cells). When ``LOSSBOOK_NOTEBOOK_CACHE``
names a folder, that is the cache: `make test` passes it to the site and PDF builds of the same
run, which take every notebook's outputs from it instead of executing the notebooks again
(``tests/test_site.py`` checks that they did). So each notebook runs once, not three times.

The notebooks are spread over the test workers one by one (``xdist_group`` per notebook).
Notebooks still run under nbval too (``pytest --nbval-lax chapters``); nbval does not record
widget state, so its run could not stand in for the build's.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution
from sphinx_external_toc.parsing import parse_toc_yaml

ROOT = Path(__file__).resolve().parents[1]
CACHE_VARIABLE = "LOSSBOOK_NOTEBOOK_CACHE"
TIMEOUT_S = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
NOTEBOOKS = sorted(
    path.relative_to(ROOT)
    for name in parse_toc_yaml(ROOT / "_toc.yml")
    if (path := ROOT / f"{name}.ipynb").is_file()
)


@pytest.fixture(scope="session")
def notebook_cache(tmp_path_factory) -> Path:
    """The folder of the Jupyter cache the executed notebooks go to."""
    folder = os.environ.get(CACHE_VARIABLE)
    return Path(folder) if folder else tmp_path_factory.mktemp("jupyter_cache")


@contextmanager
def locked(folder: Path):
    """Holds a lock on ``folder`` while the block runs: the test workers share one cache."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def test_the_book_has_notebooks():
    assert len(NOTEBOOKS) >= 20, NOTEBOOKS


@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=pytest.mark.xdist_group(str(p))) for p in NOTEBOOKS], ids=str
)
def test_notebook_runs(path: Path, notebook_cache: Path):
    notebook = nbformat.read(ROOT / path, as_version=4)
    result = single_nb_execution(
        notebook, cwd=str((ROOT / path).parent), timeout=TIMEOUT_S, allow_errors=False
    )
    if result.err is not None:
        pytest.fail(f"{path} raised:\n{result.exc_string}", pytrace=False)
    stderr = [
        f"cell {index}: {output.text}"
        for index, cell in enumerate(notebook.cells)
        for output in cell.get("outputs", [])
        if output.output_type == "stream" and output.name == "stderr"
    ]
    assert not stderr, f"{path} wrote to stderr (the build treats that as an error):\n" + "\n".join(stderr)
    with locked(notebook_cache):
        get_cache(str(notebook_cache)).cache_notebook_bundle(
            CacheBundleIn(notebook, str(ROOT / path), data={"execution_seconds": result.time}),
            check_validity=False,
            overwrite=True,
        )
    print(f"{path}: {result.time:.1f} s")
