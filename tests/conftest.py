"""Shared test settings."""

import fcntl
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The suite runs beside a cold book build on two cores, so wall-clock deadlines per example
# would fail for load, not for a bug. The examples stay random: a new counterexample is a
# real finding, and hypothesis prints how to reproduce it.
settings.register_profile(
    "lossbook", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("lossbook")

# Notebooks that the tests run (tests/test_notebooks.py, or nbval) draw their slider figures'
# frames, as the book build does (lossfns.plot.figure_mode); the kernels they start inherit this.
os.environ["LOSSBOOK_FIGURES"] = "frames"


# Which tests run together on one test worker, in pytest-xdist's ``--dist loadscope`` (the
# scheduler below): a test file's tests, so its module fixtures are made once and its tests run
# in order; but each notebook and each fresh-environment test alone, so they spread over the
# workers, and the site's tests by page (tests/test_site.py loads a page once for the tests of
# that page, and shares one build between the workers). Groups come from node ids because the
# controller sees nothing else (xdist's ``xdist_group`` markers reach it through node ids that
# pytest 9 no longer reports: with ``--dist loadgroup`` every test went to either worker).
ALONE = (
    "tests/test_notebooks.py::test_notebook_runs[",
    "tests/test_run_anywhere.py::test_downloaded_notebooks_run_in_a_fresh_environment",
    "tests/test_run_anywhere.py::test_binder_requirements_install",
)
SITE_PAGE = re.compile(r"^tests/test_site\.py::\w+\[(?:\d+px-)?([^\[\]]+\.html)\]$")


def worker_group(nodeid: str) -> str:
    if nodeid.startswith(ALONE):
        return nodeid
    if nodeid.startswith("tests/test_site.py::"):
        page = SITE_PAGE.match(nodeid)
        return f"tests/test_site.py: {page.group(1)}" if page else nodeid
    return nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class BookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return BookScheduling(config, log)


def pytest_collection_modifyitems(items):
    """The slowest tests that run alone start first; the PDF's tests go last (they wait for the
    PDF build that `make test` starts beside them). A page's site tests at the default width
    run before those at a narrower one, so the page is loaded once for them (test_site's
    LoadedPages keeps the last page loaded). The site's tests of no one page (each of which
    opens pages of its own, up to half a minute) start before the pages' groups, which are
    shorter and fill in behind them: last, they left one worker busy for half a minute after
    the others were done. The scheduler keeps this order (``--no-loadscope-reorder``)."""

    def rank(item):
        if item.nodeid.startswith("tests/test_pdf.py"):
            return 3, 0
        if item.nodeid.startswith(ALONE):
            return 0 if "test_run_anywhere" in item.nodeid else 1, 0
        if item.nodeid.startswith("tests/test_site.py::") and not SITE_PAGE.match(item.nodeid):
            return 2, -(10**6)
        width = getattr(item, "callspec", None) and item.callspec.params.get("width")
        return 2, -(width or 1280)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def lossfns_wheel(tmp_path_factory, worker_id) -> Path:
    """lossfns built from this checkout as a wheel, as pip builds it (in an isolated build
    environment), once per test run: the test workers share it (each build took 7.5 s of CPU)."""
    if worker_id == "master":  # no workers: this process's own folder
        folder = tmp_path_factory.mktemp("wheel")
    else:  # the run's folder, which holds each worker's
        folder = tmp_path_factory.getbasetemp().parent / "wheel"
        folder.mkdir(exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(folder.glob("lossfns-*.whl")):
            root = Path(__file__).resolve().parents[1]
            subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", folder, root],
                check=True,
            )
    (wheel,) = folder.glob("lossfns-*.whl")
    return wheel
