"""The benchmarks: accuracy targets, block-wise evaluation, a smoke run of the timing.

The timing itself is too noisy for a test (``make bench`` runs it); here the accuracy
check runs with its target asserted, and ``bench/speed.py`` runs once at the smallest
size to prove that it works and writes what the Benchmarks page reads.
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


# Every row-wise loss, with arguments of more rows than one block holds.
rng = np.random.default_rng(7)
N = 3 * _core.BLOCK_SIZE + 17
y01 = (rng.random(N) < 0.5).astype(float)
soft = rng.random(N)
signs = np.where(y01 > 0, 1.0, -1.0)
z = rng.normal(0, 4, N)
rows = max(3, N // 10)
labels = rng.integers(0, 10, rows)
logits = rng.normal(0, 4, (rows, 10))
emb = [rng.normal(0, 1, (N // 4, 4)) for _ in range(3)]
CASES = {
    "bce_with_logits": (lossfns.binary_cross_entropy_with_logits, (soft, z), {}),
    "bce_pos_weight": (
        lossfns.binary_cross_entropy_with_logits,
        (soft.reshape(-1, 1)[: N // 3 * 3].reshape(-1, 3), z[: N // 3 * 3].reshape(-1, 3)),
        {"pos_weight": np.array([0.5, 1.0, 3.0])},
    ),
    "bce": (lossfns.binary_cross_entropy, (y01, rng.uniform(0.001, 0.999, N)), {}),
    "softmax_ce": (lossfns.softmax_cross_entropy, (labels, logits), {"label_smoothing": 0.1}),
    "softmax_focal": (lossfns.softmax_focal_loss, (labels, logits), {}),
    "focal": (lossfns.focal_loss, (soft, z), {"alpha": 0.25}),
    "logistic": (lossfns.logistic_loss, (signs, z), {}),
    "hinge": (lossfns.hinge, (signs, z), {}),
    "squared_hinge": (lossfns.squared_hinge, (signs, z), {}),
    "pairwise_hinge": (lossfns.pairwise_hinge, (z, rng.normal(0, 4, N)), {}),
    "bpr": (lossfns.bpr, (z, rng.normal(0, 4, N)), {}),
    "contrastive": (lossfns.contrastive, (y01, np.abs(z)), {}),
    "triplet": (lossfns.triplet, tuple(emb), {}),
    "mse": (lossfns.mse, (z, rng.normal(0, 4, N)), {}),
    "mae": (lossfns.mae, (z, rng.normal(0, 4, N)), {}),
    "huber": (lossfns.huber, (z, rng.normal(0, 4, N)), {"delta": 2.0}),
}


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_blockwise_evaluation_equals_one_call(case, weighted, reduction, monkeypatch):
    loss, args, hyper = CASES[case]
    n_rows = len(args[-1])
    assert n_rows * args[-1][:1].size > _core.BLOCK_SIZE  # several blocks
    kwargs = dict(hyper, reduction=reduction)
    if weighted:
        kwargs["sample_weight"] = np.random.default_rng(1).uniform(0, 2, n_rows)
    value, grad = loss.value_and_grad(*args, **kwargs)
    hess = loss.hess(*args, **kwargs) if hasattr(loss, "hess") else None
    monkeypatch.setattr(_core, "BLOCK_SIZE", 10**9)  # one block: the plain evaluation
    value_1, grad_1 = loss.value_and_grad(*args, **kwargs)
    # per-sample values and derivatives are the same operations on the same numbers;
    # a reduced value differs by the order of summation: ~ n eps relative at worst
    if reduction == "none":
        np.testing.assert_array_equal(value, value_1)
    else:
        assert value == pytest.approx(value_1, rel=1e-13)
    for g, g_1 in zip(_as_tuple(grad), _as_tuple(grad_1)):
        np.testing.assert_array_equal(g, g_1)
    if hess is not None:
        for h, h_1 in zip(_as_tuple(hess), _as_tuple(loss.hess(*args, **kwargs))):
            np.testing.assert_array_equal(h, h_1)


@pytest.mark.parametrize("case", list(CASES))
def test_a_summed_value_is_the_sum_of_the_values(case):
    # reduced without weights, a row-wise formula is asked for value="sum" and may form
    # the sum its own way (dot products of non-negative parts): n eps relative at worst
    loss, args, hyper = CASES[case]
    terms = loss(*args, **hyper, reduction="none")
    exact = math.fsum(terms.ravel().tolist())
    assert loss(*args, **hyper, reduction="sum") == pytest.approx(exact, rel=N * 2.0**-53)
    assert loss(*args, **hyper) == pytest.approx(exact / terms.size, rel=N * 2.0**-53)


@pytest.mark.parametrize("case", list(CASES))
def test_a_float32_sum_keeps_pairwise_accuracy(case):
    # float32 values are summed by NumPy's pairwise summation (Terms asks only float64
    # formulas for value="sum"): for non-negative terms the relative error is at most
    # about eps log2(n); the bound allows twice that
    loss, args, hyper = CASES[case]
    args = tuple(a.astype(np.float32) if a.dtype == np.float64 else a for a in args)
    hyper = {k: np.float32(v) if isinstance(v, float) else v for k, v in hyper.items()}
    hyper = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in hyper.items()}
    total = loss(*args, **hyper, reduction="sum")
    assert total.dtype == np.float32
    exact = math.fsum(loss(*args, **hyper, reduction="none").ravel().tolist())
    assert total == pytest.approx(exact, rel=2 * math.log2(N) * 2.0**-24)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_bad_entry_in_the_last_block_is_an_error(case, bad):
    # the finiteness and label checks of row-wise losses run block by block
    loss, args, hyper = CASES[case]
    prediction = args[-1].copy()
    prediction.flat[-1] = bad
    for method in ("__call__", "grad", "value_and_grad"):
        with pytest.raises(ValueError, match="contains NaN or infinite values"):
            getattr(loss, method)(*args[:-1], prediction, **hyper)


@pytest.mark.parametrize(
    ("case", "label", "message"),
    [
        ("bce_with_logits", 1.5, r"y_true must lie in \[0, 1\]; found 1.5"),
        ("bce", -0.5, r"y_true must lie in \[0, 1\]; found -0.5"),
        ("focal", np.nan, "y_true contains NaN or infinite values"),
        ("logistic", 0.0, r"y_true must hold only the values \(-1, 1\); found 0.0"),
        ("hinge", np.inf, "y_true contains NaN or infinite values"),
        ("contrastive", 0.5, r"y_similar must hold only the values \(0, 1\); found 0.5"),
    ],
)
def test_a_bad_label_in_the_last_block_is_an_error(case, label, message):
    loss, args, hyper = CASES[case]
    labels = args[0].copy()
    labels[-1] = label
    with pytest.raises(ValueError, match=message):
        loss.value_and_grad(labels, *args[1:], **hyper)


def test_a_negative_distance_in_the_last_block_is_an_error():
    y, distance = CASES["contrastive"][1]
    distance = distance.copy()
    distance[-1] = -1.0
    with pytest.raises(ValueError, match="distance must be non-negative; found -1.0"):
        lossfns.contrastive.value_and_grad(y, distance)


def test_scalar_arguments_give_scalar_results():
    value = lossfns.binary_cross_entropy_with_logits(1.0, -1000.0, reduction="none")
    grad = lossfns.binary_cross_entropy_with_logits.grad(1.0, 2.0)
    assert np.ndim(value) == 0 and np.ndim(grad) == 0
    assert float(value) == 1000.0


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
