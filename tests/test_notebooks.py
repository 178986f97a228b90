"""Every notebook of the book runs, once per test run, exactly as the book build runs it.

Each notebook is executed by ``tools/execute_notebooks.py``, as myst-nb's cache mode executes it
during ``jupyter-book build`` (a kernel of this environment in the notebook's folder, the build's
timeout, no error allowed, nothing on stderr), into a Jupyter cache keyed as the build keys it.
When ``LOSSBOOK_NOTEBOOK_CACHE`` names a folder, that is the cache: `make test` hands it to the
site and PDF builds of the same run, which render every notebook from it instead of executing
the notebooks again (``tests/test_site.py`` checks that they did). So each notebook runs once,
not three times. The notebooks are spread over the test workers one by one (tests/conftest.py).

The notebooks still run under nbval too (``pytest --nbval-lax chapters``), but nbval does not
record widget state, so its run could not stand in for the build's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

NOTEBOOKS = execute_notebooks.notebooks()


@pytest.fixture(scope="session")
def notebook_cache(tmp_path_factory) -> Path:
    """The folder of the Jupyter cache the executed notebooks go to."""
    folder = os.environ.get(execute_notebooks.CACHE_VARIABLE)
    return Path(folder) if folder else tmp_path_factory.mktemp("jupyter_cache")


def test_the_book_has_notebooks():
    assert len(NOTEBOOKS) >= 20, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_notebook_runs(path: Path, notebook_cache: Path):
    run = execute_notebooks.execute(path, notebook_cache)
    assert run.problem is None, f"{path} {run.problem}"
    assert execute_notebooks.is_cached(path, notebook_cache)
    print(f"{path}: {run.seconds:.1f} s")
