"""The benchmarks: accuracy targets and smoke runs of the timing scripts.

The timing itself is too noisy for a test (``make bench`` runs it); here the accuracy
check runs with its target asserted, and ``bench/speed.py`` and ``bench/compare.py`` run once
at the smallest size to prove that they work and write what the Benchmarks page reads.
(The block-wise evaluation is tested in ``test_core.py`` and ``test_shared.py``.)
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lossfns
from lossfns import _core

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def accuracy():
    module = load("accuracy")
    return module, module.run(log=lambda *args: None)


def test_lossfns_meets_the_accuracy_target_everywhere_on_the_grid(accuracy):
    module, results = accuracy
    assert module.check_target(results) == []
    for name, rows in results["losses"].items():
        assert rows["lossfns"]["worst_relative_error"] <= 1e-12, name
        assert rows["lossfns"]["nan_or_inf"] == 0, name


def test_the_grid_is_extreme_enough_to_tell_the_contenders_apart(accuracy):
    # if the grid went tame, clipping would look exact: these failures must show
    _, results = accuracy
    losses = results["losses"]
    assert losses["binary_cross_entropy"]["keras (clipped)"]["worst_relative_error"] > 1
    assert losses["binary_cross_entropy"]["scikit-learn log_loss"]["worst_relative_error"] > 1
    assert losses["binary_cross_entropy"]["torch"]["worst_relative_error"] > 0.1  # log clamped at -100
    assert losses["softmax_cross_entropy"]["torch"]["worst_relative_error"] > 0.1
    assert losses["logistic_loss"]["torch"]["nan_or_inf"] > 0  # exp(-y f) overflows
    assert losses["bpr"]["clipped -log(sigmoid)"]["worst_relative_error"] > 0.1


def test_a_reference_that_cancels_would_be_caught(accuracy):
    # compare() measures against the reference: a value off by one part in 1e10 fails
    module, _ = accuracy
    with module.mp.workdps(module.DIGITS):
        ref = [module.mp.mpf(2) / 3]
        assert module.compare(ref, [2 / 3])["worst_relative_error"] < 1e-16
        assert module.compare(ref, [2 / 3 * (1 + 1e-10)])["worst_relative_error"] > 1e-11
        assert module.compare(ref, [np.inf])["nan_or_inf"] == 1


def test_speed_smoke_run_writes_what_the_page_reads(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "speed.py"), "--sizes", "1000", "--quick",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    stored = json.loads(out.read_text())
    assert {"cpu", "numpy", "torch", "threads"} <= set(stored["machine"])
    losses = stored["speed"]["losses"]
    for name in ("binary_cross_entropy_with_logits", "softmax_cross_entropy", "focal_loss",
                 "pairwise_hinge", "triplet"):
        (row,) = losses[name]["sizes"]
        assert row["n"] == 1000
        for key in ("lossfns", "torch", "floor"):
            assert 0 < row[key]["q25"] <= row[key]["median"] <= row[key]["q75"]
        assert row["ratio"]["median"] > 0 and row["peak_temporaries"] >= 0


def test_before_after_smoke_run_writes_what_the_page_reads(tmp_path):
    # compared with the working tree itself: the machinery, not the numbers
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare.py"), "--sizes", "1000", "--quick",
         "--only", "mse", "bpr", "--before-path", str(ROOT / "lossfns"), "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    stored = json.loads(out.read_text())["before_after"]
    assert set(stored["losses"]) == {"mse", "bpr"}
    for rows in stored["losses"].values():
        (row,) = rows
        assert row["n"] == 1000
        for key in ("now", "before", "ratio"):
            assert 0 < row[key]["q25"] <= row[key]["median"] <= row[key]["q75"]
