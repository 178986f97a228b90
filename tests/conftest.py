"""Shared test settings."""

import os

from hypothesis import HealthCheck, settings

# The suite runs beside a cold book build on two cores, so wall-clock deadlines per example
# would fail for load, not for a bug. The examples stay random: a new counterexample is a
# real finding, and hypothesis prints how to reproduce it.
settings.register_profile(
    "lossbook", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("lossbook")

# Notebooks that nbval runs draw their slider figures' frames, as the book build does
# (lossfns.plot.figure_mode); the kernels it starts inherit this.
os.environ["LOSSBOOK_FIGURES"] = "frames"
