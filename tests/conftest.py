"""Shared test settings."""

import os

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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Keep each test file on one worker (its module and session fixtures are made once), except
    tests marked ``any_worker`` (their fixtures are shared between workers) and tests that name
    their own ``xdist_group``: pytest-xdist's ``--dist loadgroup`` spreads those. The PDF's tests
    go last: they wait for the PDF build that `make test` starts beside them."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            spread = item.get_closest_marker("any_worker") is not None
            item.add_marker(pytest.mark.xdist_group(item.nodeid if spread else item.nodeid.split("::")[0]))
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_pdf.py"))
