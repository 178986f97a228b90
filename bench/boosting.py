"""Boosting objectives (Part VI): speed of grad_hess, training time, and the Hessian policies.

Three measurements, one thread each (``OMP_NUM_THREADS=1`` and the libraries' own thread
parameters), interleaved repeats, medians:

``speed``
    ``loss.grad_hess(y, z, reduction="sum")`` against the two lines of NumPy a user would
    write for the same objective (BCE with logits: ``s = 1/(1+exp(-z)); g = s - y;
    h = s*(1-s)``; MSE: ``g = 2*(z - y); h = full(2)``) at 10^6 rows, float32 and float64;
    and the whole objective call (``obj(preds, data)``, labels read from the dataset).
``training``
    total training time of XGBoost and LightGBM, 100 rounds, 20 features, one thread, with
    the built-in objective and with the ``lossfns`` objective (binary and squared error).
``policies``
    test error of every ``hessian=`` policy of MAE, pinball (τ = 0.9) and Huber (δ = 1)
    relative to the built-in objective, on a heavy-tailed regression set at two scales
    (targets × 1 and × 100); training curves of the three softmax scalings.

    .venv/bin/python bench/boosting.py --json bench/boosting.json      # all (~3 min)
    .venv/bin/python bench/boosting.py --only speed --rows 100000     # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import lossfns  # noqa: E402
from lossfns import boosting  # noqa: E402


def _median_time(function, repeats: int, number: int = 1) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            function()
        samples.append((time.perf_counter() - start) / number)
    return float(np.median(samples))


def _interleaved(functions: dict, repeats: int) -> dict:
    """Median seconds of each function, the calls interleaved in a rotating order."""
    names = list(functions)
    samples = {name: [] for name in names}
    for name in names:  # warm-up
        functions[name]()
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            functions[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}


class _Data:
    """What the objective reads of a dataset."""

    def __init__(self, y):
        self.y = y

    def get_label(self):
        return self.y

    def get_weight(self):
        return np.empty(0, self.y.dtype)


def speed(rows: int = 10**6, repeats: int = 21) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for dtype in (np.float32, np.float64):
        z = rng.normal(scale=2, size=rows).astype(dtype)
        y01 = (rng.random(rows) < 0.5).astype(dtype)
        y = rng.normal(size=rows).astype(dtype)

        def numpy_bce():
            s = 1 / (1 + np.exp(-z))
            return s - y01, s * (1 - s)

        def numpy_mse():
            return 2 * (z - y), np.full_like(z, 2)

        bce, mse = lossfns.binary_cross_entropy_with_logits, lossfns.mse
        obj_bce, obj_mse = boosting.objective(bce), boosting.objective(mse)
        data_bce, data_mse = _Data(y01), _Data(y)
        times = _interleaved(
            {
                "bce numpy": numpy_bce,
                "bce grad_hess": lambda: bce.grad_hess(y01, z, reduction="sum"),
                "bce grad + hess": lambda: (bce.grad(y01, z, reduction="sum"),
                                            bce.hess(y01, z, reduction="sum")),
                "bce objective": lambda: obj_bce(z, data_bce),
                "mse numpy": numpy_mse,
                "mse grad_hess": lambda: mse.grad_hess(y, z, reduction="sum"),
                "mse grad + hess": lambda: (mse.grad(y, z, reduction="sum"),
                                            mse.hess(y, z, reduction="sum")),
                "mse objective": lambda: obj_mse(z, data_mse),
            },
            repeats,
        )
        name = np.dtype(dtype).name
        out[name] = {k: v * 1e3 for k, v in times.items()}  # milliseconds
        for loss in ("bce", "mse"):
            for what in ("grad_hess", "grad + hess", "objective"):
                out[name][f"{loss} {what} / numpy"] = times[f"{loss} {what}"] / times[f"{loss} numpy"]
    return {"rows": rows, "ms": out}


def training(rows: int = 100_000, rounds: int = 100, repeats: int = 3) -> dict:
    import lightgbm as lgb
    import xgboost as xgb

    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, 20)).astype(np.float32)
    f = X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3]
    y_binary = (f + rng.logistic(size=rows) > 0).astype(np.float32)
    y_regression = (f + rng.normal(size=rows)).astype(np.float32)
    out = {"rows": rows, "rounds": rounds, "features": 20, "seconds": {}, "ratio": {}}
    cases = [
        ("binary", y_binary, lossfns.binary_cross_entropy_with_logits, "binary", "binary:logistic"),
        ("squared error", y_regression, lossfns.mse, "l2", "reg:squarederror"),
    ]
    for name, y, loss, lgb_name, xgb_name in cases:
        obj = boosting.objective(loss)
        start = float(obj.init_score(y.astype(np.float64)))
        lgb_params = dict(verbose=-1, num_threads=1, num_leaves=31, force_row_wise=True)
        lgb_data = lgb.Dataset(X, y, free_raw_data=False, params={"max_bin": 255}).construct()
        lgb_init = lgb.Dataset(X, y, init_score=np.full(rows, start), free_raw_data=False).construct()
        xgb_data = xgb.DMatrix(X, y, nthread=1)
        xgb_params = dict(nthread=1, max_depth=6, tree_method="hist")
        extra = {"reg_lambda": 2.0, "min_child_weight": 2.0} if loss is lossfns.mse else {}
        base = float(y.mean()) if xgb_name == "binary:logistic" else start
        times = _interleaved(
            {
                "lightgbm built-in": lambda: lgb.train(dict(lgb_params, objective=lgb_name), lgb_data, rounds),
                "lightgbm lossfns": lambda: lgb.train(dict(lgb_params, objective=obj), lgb_init, rounds),
                "xgboost built-in": lambda: xgb.train(
                    dict(xgb_params, objective=xgb_name, base_score=base), xgb_data, rounds),
                "xgboost lossfns": lambda: xgb.train(
                    dict(xgb_params, **extra, base_score=start), xgb_data, rounds, obj=obj),
            },
            repeats,
        )
        out["seconds"][name] = times
        out["ratio"][name] = {
            lib: times[f"{lib} lossfns"] / times[f"{lib} built-in"] for lib in ("lightgbm", "xgboost")
        }
    return out


def heavy_tailed(seed: int, n: int = 4000, scale: float = 1.0):
    """The regression set of the book's zero-Hessian page: a smooth signal in 8 features
    plus Student-t (2 degrees of freedom) noise whose size depends on a feature."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(2 * n, 8))
    f = 3 * x[:, 0] + 2 * np.sin(3 * x[:, 1]) + 2 * x[:, 2] * x[:, 3]
    y = scale * (f + rng.standard_t(2, size=2 * n) * (0.5 + np.abs(x[:, 4])))
    return x[:n], y[:n], x[n:], y[n:]


def policies(rounds: int = 200, seeds=(0, 1), scales=(1.0, 100.0)) -> dict:
    import lightgbm as lgb
    import xgboost as xgb

    cases = [
        ("mae", lossfns.mae, {}, {"objective": "l1"}, {"objective": "reg:absoluteerror"}),
        ("pinball 0.9", lossfns.pinball, {"quantile": 0.9},
         {"objective": "quantile", "alpha": 0.9},
         {"objective": "reg:quantileerror", "quantile_alpha": 0.9}),
        ("huber 1", lossfns.huber, {"delta": 1.0}, {"objective": "huber", "alpha": 1.0}, None),
    ]
    lgb_params = dict(verbose=-1, num_threads=1, learning_rate=0.1)
    xgb_params = dict(nthread=1, eta=0.1, max_depth=6, tree_method="hist")
    rows = []
    for scale in scales:
        for seed in seeds:
            x, y, x_test, y_test = heavy_tailed(seed, scale=scale)
            for name, loss, hyper, lgb_builtin, xgb_builtin in cases:
                error = lambda p: float(loss(y_test, p, **hyper))  # noqa: E731
                start = float(boosting.init_score(loss, y, **hyper))
                init = np.full(len(y), start)
                ref_lgb = error(lgb.train(dict(lgb_params, **lgb_builtin), lgb.Dataset(x, y), rounds).predict(x_test))
                ref_xgb = None
                if xgb_builtin:
                    ref_xgb = error(xgb.train(dict(xgb_params, **xgb_builtin), xgb.DMatrix(x, y),
                                              rounds).predict(xgb.DMatrix(x_test)))
                _, allowed, _ = boosting._POLICIES[loss]
                settings = [(p, {}) for p in allowed]
                if "majoriser" in allowed and loss is not lossfns.huber:
                    settings += [("majoriser", {"min_residual": scale * m}) for m in (0.1, 0.01)]
                for policy, extra in settings:
                    obj = boosting.objective(loss, hessian=policy, **extra, **hyper)
                    model = lgb.train(dict(lgb_params, objective=obj), lgb.Dataset(x, y, init_score=init), rounds)
                    e_lgb = error(model.predict(x_test, raw_score=True) + start)
                    booster = xgb.train(dict(xgb_params, base_score=start), xgb.DMatrix(x, y), rounds, obj=obj)
                    e_xgb = error(booster.predict(xgb.DMatrix(x_test)))
                    label = policy + "".join(f" {k}={v:g}" for k, v in extra.items())
                    rows.append({
                        "loss": name, "scale": scale, "seed": seed, "policy": label,
                        "lightgbm / built-in": e_lgb / ref_lgb,
                        "xgboost / built-in": e_xgb / ref_xgb if ref_xgb else None,
                        "xgboost / lightgbm built-in": e_xgb / ref_lgb,
                    })
                    print(rows[-1], flush=True)
    return {"rounds": rounds, "rows": rows}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["speed", "training", "policies"], action="append")
    parser.add_argument("--rows", type=int, default=10**6, help="rows for the speed measurement")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    only = args.only or ["speed", "training", "policies"]
    results = {}
    if "speed" in only:
        results["speed"] = speed(args.rows)
        print(json.dumps(results["speed"], indent=1), flush=True)
    if "training" in only:
        results["training"] = training()
        print(json.dumps(results["training"], indent=1), flush=True)
    if "policies" in only:
        results["policies"] = policies()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
