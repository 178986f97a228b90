"""Speed of ``lossfns`` on torch tensors against torch's own losses: value and gradient,
one thread, float64.

The losses and data are those of ``bench/speed.py``; here ``lossfns`` receives torch
tensors, so it computes with torch operations (see ``lossfns._namespace``). Three
contenders, timed interleaved like ``speed.py`` (the median of per-repeat ratios):

* ``analytic``: ``loss.value_and_grad(...)`` of ``lossfns`` on tensors — the value and
  the analytic gradient, no autograd graph;
* ``autograd``: ``loss(...)`` of ``lossfns`` on a tensor that requires grad, then
  ``.backward()`` — what a training loop does;
* ``torch``: torch's own loss (``F.binary_cross_entropy_with_logits``, ...), forward and
  backward.

Usage (from the repository root)::

    python bench/tensors.py --json bench/tensors.json     # 10^3 .. 10^7, every loss
    python bench/tensors.py --sizes 1000 --quick          # smoke run

The Benchmarks appendix reads ``bench/tensors.json``; it never times anything itself.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import speed  # noqa: E402  (bench/speed.py: the cases, timers and machine description)

SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)


def _lossfns_calls(case: speed.Case, data: dict):
    tensors = {k: torch.from_numpy(v) for k, v in data.items()}
    leaves = {k: tensors[k].clone().requires_grad_() for k in case.wrt}

    def analytic():
        return case.call(tensors)

    def autograd():
        for leaf in leaves.values():
            leaf.grad = None
        value = case.value({**tensors, **leaves})
        value.backward()
        return value, [leaf.grad for leaf in leaves.values()]

    return analytic, autograd


def measure(case: speed.Case, n: int, repeats: int, budget: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    data = case.make(n, rng)
    analytic, autograd = _lossfns_calls(case, data)
    contenders = {"analytic": analytic, "autograd": autograd,
                  "torch": speed._torch_call(case, data)}
    numbers = {k: speed._calibrate(f, budget) for k, f in contenders.items()}
    samples = {k: [] for k in contenders}
    names = list(contenders)
    gc.collect()
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            samples[name].append(speed._time(contenders[name], numbers[name]))
    row = {"n": n, "repeats": repeats}
    for name in names:
        row[name] = speed._summary(samples[name])
    for name in ("analytic", "autograd"):
        row[f"{name}_ratio"] = speed._summary(
            [a / b for a, b in zip(samples[name], samples["torch"])])
    return row


def run(sizes=SIZES, repeats=None, budget=0.02, only=None, log=print) -> dict:
    torch.set_num_threads(1)
    cases, _ = speed._cases()
    results = {}
    for case in cases:
        if only and case.name not in only:
            continue
        results[case.name] = {"torch": case.torch_name, "sizes": []}
        for n in sizes:
            row = measure(case, n, repeats or (5 if n >= 10**7 else 9), budget)
            results[case.name]["sizes"].append(row)
            log(f"{case.name:34s} n={n:>9.0e}  analytic/torch "
                f"{row['analytic_ratio']['median']:5.2f}  autograd/torch "
                f"{row['autograd_ratio']['median']:5.2f}  torch "
                f"{row['torch']['median'] * 1e3:9.3f} ms")
    return {"machine": speed.machine(), "losses": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="few, short repeats")
    parser.add_argument("--only", nargs="+", help="loss names to run")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--clock", choices=sorted(speed.CLOCKS), default="process",
                        help="the process's CPU time (the default: steadier on a busy "
                             "machine; every contender runs on one thread) or wall-clock time")
    args = parser.parse_args(argv)
    speed.clock = speed.CLOCKS[args.clock]
    repeats, budget = (3, 0.002) if args.quick else (args.repeats, 0.02)
    results = run(args.sizes, repeats, budget, args.only)
    results["clock"] = args.clock
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
