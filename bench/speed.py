"""Speed of ``lossfns`` against PyTorch: value and gradient, one thread, float64.

For every loss that PyTorch also has, time ``loss.value_and_grad`` of ``lossfns``
against a PyTorch forward and backward pass (``loss(...).backward()``) on the same
float64 data, at sizes of 10^3, 10^5 and 10^7 elements per prediction array (softmax
cross-entropy: 10 classes, so 10^6 rows at the largest size; triplet: rows of 16).

* Both run on one thread: ``torch.set_num_threads(1)``, and ``OMP_NUM_THREADS=1`` /
  ``OPENBLAS_NUM_THREADS=1`` are set before NumPy is imported.
* Repeats are interleaved (lossfns, torch, floor, in an order that rotates from repeat
  to repeat), so a slow spell of the machine hits all three alike; the script reports
  the median and the interquartile range of each, and the median of the per-repeat
  ratios lossfns / torch.
* The memory-bandwidth floor of a size is the time of ``np.add(a, b)`` on arrays of
  that size (two reads and the write of a fresh array: 3 streams); a loss's floor is
  that time times its number of streams / 3 (each input read once, each gradient
  written once). ``lossfns / floor`` says how far the loss is from pure data movement.
* Peak memory of ``value_and_grad`` (``tracemalloc``, which sees NumPy's buffers),
  beyond the returned gradient(s), is reported in units of one input array.

Usage (from the repository root; ``make bench`` runs it with the accuracy check)::

    python bench/speed.py                      # all sizes, prints the table
    python bench/speed.py --sizes 1000 --quick # smoke run
    python bench/speed.py --json bench/results.json   # also store the results

Regression losses (``lossfns.regression``) join the table when that module imports.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import lossfns  # noqa: E402

torch.set_num_threads(1)

SIZES = (10**3, 10**5, 10**7)
TARGET_RATIO = 0.5  # lossfns / torch at 10^5 and 10^7
TARGET_FLOOR = 6.0  # lossfns / floor at 10^7
TARGET_TEMPORARIES = 3.0  # peak extra memory, in input arrays
CLASSES = 10  # softmax cross-entropy
EMBEDDING = 16  # triplet


@dataclass
class Case:
    """One loss: how to make its data, call lossfns and call torch on it."""

    name: str
    torch_name: str
    make: Callable[[int, np.random.Generator], dict]
    loss: object  # the lossfns loss (of lossfns or an older copy of it)
    arguments: tuple[str, ...]  # the data it takes, in its argument order
    torch_loss: Callable[..., torch.Tensor]  # of the tensors named in `wrt` + others
    wrt: tuple[str, ...]  # prediction arrays (gradients are taken for these)
    streams: float  # arrays of the size read or written by one evaluation
    bare: Callable[[dict], object] | None = None  # fewest NumPy passes, no checks
    keywords: dict = field(default_factory=dict)  # hyper-parameters

    def call(self, data: dict):
        """``loss.value_and_grad`` of ``data`` (NumPy arrays, or torch tensors)."""
        return self.loss.value_and_grad(*(data[k] for k in self.arguments), **self.keywords)

    def value(self, data: dict):
        """The loss's value alone (``bench/tensors.py`` differentiates it by autograd)."""
        return self.loss(*(data[k] for k in self.arguments), **self.keywords)


def _binary(n, rng):
    return {"y": (rng.random(n) < 0.5).astype(float), "z": rng.normal(0, 3, n)}


def _probabilities(n, rng):
    return {"y": (rng.random(n) < 0.5).astype(float), "p": rng.uniform(0.01, 0.99, n)}


def _signs(n, rng):
    return {"y": np.where(rng.random(n) < 0.5, -1.0, 1.0), "f": rng.normal(0, 3, n)}


def _rows(n, rng):
    rows = max(1, n // CLASSES)
    return {"y": rng.integers(0, CLASSES, rows), "z": rng.normal(0, 3, (rows, CLASSES))}


def _pairs(n, rng):
    return {"pos": rng.normal(0, 2, n), "neg": rng.normal(0, 2, n)}


def _triplets(n, rng):
    shape = (max(1, n // EMBEDDING), EMBEDDING)
    return {k: rng.normal(0, 1, shape) for k in ("a", "p", "n")}


def _regression(n, rng):
    return {"y": rng.normal(0, 1, n), "yhat": rng.normal(0, 1.5, n)}


def _bare_mse(d):
    # The fewest NumPy passes that give the mean squared error and its gradient, with
    # no check of the inputs: one subtraction, one BLAS dot, one scaling in place.
    r = np.subtract(d["yhat"], d["y"])
    value = np.dot(r, r) / r.size
    r *= 2 / r.size
    return value, r


def _torch_focal(z, y, gamma=2.0, alpha=0.25):
    # torchvision.ops.sigmoid_focal_loss, written with torch ops
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    alpha_t = alpha * y + (1 - alpha) * (1 - y)
    return (alpha_t * loss).mean()


def _cases(library=lossfns) -> tuple[list[Case], list[str]]:
    """The benchmarked losses, called from ``library`` (``lossfns``, or an older copy of it)."""
    ones = {}

    def target_ones(pos):
        # margin_ranking_loss needs target = 1: made once per size, not timed
        if pos.shape not in ones:
            ones[pos.shape] = torch.ones(pos.shape, dtype=pos.dtype)
        return ones[pos.shape]

    cases = [
        Case(
            "binary_cross_entropy_with_logits", "binary_cross_entropy_with_logits",
            _binary, library.binary_cross_entropy_with_logits, ("y", "z"),
            lambda z, y: F.binary_cross_entropy_with_logits(z, y), ("z",), 3,
        ),
        Case(
            "binary_cross_entropy", "binary_cross_entropy", _probabilities,
            library.binary_cross_entropy, ("y", "p"),
            lambda p, y: F.binary_cross_entropy(p, y), ("p",), 3,
        ),
        Case(
            "softmax_cross_entropy", "cross_entropy", _rows,
            library.softmax_cross_entropy, ("y", "z"),
            lambda z, y: F.cross_entropy(z, y), ("z",), 2 + 1 / CLASSES,
        ),
        Case(
            "focal_loss", "sigmoid_focal_loss (torch ops)", _binary,
            library.focal_loss, ("y", "z"), _torch_focal, ("z",), 3,
            keywords={"gamma": 2.0, "alpha": 0.25},
        ),
        Case(
            "logistic_loss", "soft_margin_loss", _signs, library.logistic_loss, ("y", "f"),
            lambda f, y: F.soft_margin_loss(f, y), ("f",), 3,
        ),
        Case(
            "pairwise_hinge", "margin_ranking_loss", _pairs, library.pairwise_hinge,
            ("pos", "neg"),
            lambda pos, neg: F.margin_ranking_loss(
                pos, neg, target_ones(pos), margin=1.0),
            ("pos", "neg"), 4,
        ),
        Case(
            "bpr", "-logsigmoid(pos - neg).mean()", _pairs, library.bpr, ("pos", "neg"),
            lambda pos, neg: -F.logsigmoid(pos - neg).mean(), ("pos", "neg"), 4,
        ),
        Case(
            "triplet", "triplet_margin_loss (eps=0)", _triplets, library.triplet,
            ("a", "p", "n"),
            lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=1.0, eps=0.0),
            ("a", "p", "n"), 6,
        ),
    ]
    notes = []
    for name, torch_name, torch_loss, bare in (
        ("mse", "mse_loss", lambda yhat, y: F.mse_loss(yhat, y), _bare_mse),
        ("mae", "l1_loss", lambda yhat, y: F.l1_loss(yhat, y), None),
        ("huber", "huber_loss", lambda yhat, y: F.huber_loss(yhat, y, delta=1.0),
         None),
    ):
        cases.append(Case(
            name, torch_name, _regression, getattr(library, name), ("y", "yhat"),
            torch_loss, ("yhat",), 3, bare,
        ))
    return cases, notes


def _torch_call(case: Case, data: dict) -> Callable[[], object]:
    """A closure running torch's forward and backward pass on tensors made once."""
    tensors = {k: torch.from_numpy(v) for k, v in data.items()}
    leaves = [tensors[k].requires_grad_() for k in case.wrt]
    others = [tensors[k] for k in data if k not in case.wrt]

    def run():
        for leaf in leaves:
            leaf.grad = None
        loss = case.torch_loss(*leaves, *others)
        loss.backward()
        return loss, [leaf.grad for leaf in leaves]

    return run


def _floor_call(n: int, rng: np.random.Generator) -> Callable[[], object]:
    a, b = rng.random(n), rng.random(n)
    return lambda: np.add(a, b)


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}
clock = CLOCKS["wall"]  # set by --clock


def _time(function: Callable[[], object], number: int) -> float:
    start = clock()
    for _ in range(number):
        function()
    return (clock() - start) / number


def _calibrate(function: Callable[[], object], budget: float) -> int:
    """Calls per sample so that one sample takes about ``budget`` seconds."""
    function()  # warm up: imports, first-touch of the data
    once = _time(function, 1)
    return max(1, math.ceil(budget / max(once, 1e-7)))


def _summary(samples: list[float]) -> dict:
    q25, median, q75 = np.percentile(samples, [25, 50, 75])
    return {"median": median, "q25": q25, "q75": q75, "min": min(samples)}


def _peak_temporaries(case: Case, data: dict) -> float:
    """Peak memory of value_and_grad beyond its gradient(s), in input arrays."""
    one_input = max(data[k].nbytes for k in case.wrt)
    gradient_bytes = sum(data[k].nbytes for k in case.wrt)
    gc.collect()
    tracemalloc.start()
    try:
        result = case.call(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return (peak - gradient_bytes) / one_input


def measure(case: Case, n: int, repeats: int, budget: float, seed: int = 0) -> dict:
    """Interleaved timings of lossfns, torch and the floor for one case and size."""
    rng = np.random.default_rng(seed)
    data = case.make(n, rng)
    contenders = {
        "lossfns": lambda: case.call(data),
        "torch": _torch_call(case, data),
        "floor": _floor_call(n, rng),
    }
    if case.bare is not None:
        contenders["bare"] = lambda: case.bare(data)
    numbers = {k: _calibrate(f, budget) for k, f in contenders.items()}
    samples = {k: [] for k in contenders}
    names = list(contenders)
    gc.collect()
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]  # rotate the first
        for name in order:
            samples[name].append(_time(contenders[name], numbers[name]))
    floor = [s * case.streams / 3 for s in samples["floor"]]
    ratios = [a / b for a, b in zip(samples["lossfns"], samples["torch"])]
    over_floor = [a / b for a, b in zip(samples["lossfns"], floor)]
    bare = {}
    if "bare" in samples:
        bare = {
            "bare": _summary(samples["bare"]),
            "bare_ratio": _summary(
                [a / b for a, b in zip(samples["bare"], samples["torch"])]),
        }
    return {
        "n": n,
        "repeats": repeats,
        "calls_per_sample": numbers,
        "lossfns": _summary(samples["lossfns"]),
        "torch": _summary(samples["torch"]),
        "floor": _summary(floor),
        "ratio": _summary(ratios),
        "lossfns_over_floor": _summary(over_floor),
        "torch_over_floor": _summary(
            [a / b for a, b in zip(samples["torch"], floor)]),
        "peak_temporaries": _peak_temporaries(case, data),
        **bare,
    }


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import scipy
    import sklearn

    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "threads": 1,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "lossfns": lossfns.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def run(sizes=SIZES, repeats=None, budget=0.02, only=None, log=print) -> dict:
    """Measure every case at every size; returns the JSON-ready results."""
    cases, notes = _cases()
    for note in notes:
        log(f"note: {note}")
    results = {}
    for case in cases:
        if only and case.name not in only:
            continue
        results[case.name] = {"torch": case.torch_name, "streams": case.streams,
                              "sizes": []}
        for n in sizes:
            reps = repeats or (9 if n >= 10**7 else 15)
            row = measure(case, n, reps, budget)
            results[case.name]["sizes"].append(row)
            log(_format_row(case.name, row))
    return {"machine": machine(), "notes": notes, "losses": results,
            "targets": {"ratio": TARGET_RATIO, "floor": TARGET_FLOOR,
                        "temporaries": TARGET_TEMPORARIES}}


def _format_row(name: str, row: dict) -> str:
    ms = 1e3
    ratio, over = row["ratio"], row["lossfns_over_floor"]
    return (
        f"{name:34s} n={row['n']:>9.0e}  lossfns {row['lossfns']['median'] * ms:9.3f} ms"
        f"  torch {row['torch']['median'] * ms:9.3f} ms"
        f"  ratio {ratio['median']:5.2f} [{ratio['q25']:.2f}, {ratio['q75']:.2f}]"
        f"  /floor {over['median']:5.1f}  temporaries {row['peak_temporaries']:4.1f}"
        + (f"  bare NumPy / torch {row['bare_ratio']['median']:5.2f}"
           if "bare_ratio" in row else "")
    )


def check_targets(results: dict) -> list[str]:
    """The targets of the speed issue that the results miss (an empty list: all met)."""
    missed = []
    for name, loss in results["losses"].items():
        for row in loss["sizes"]:
            n, ratio = row["n"], row["ratio"]["median"]
            if n >= 10**5 and ratio > TARGET_RATIO:
                missed.append(f"{name} at n={n:.0e}: lossfns / torch = {ratio:.2f}")
            over = row["lossfns_over_floor"]["median"]
            if n >= 10**7 and over > TARGET_FLOOR:
                missed.append(f"{name} at n={n:.0e}: lossfns / floor = {over:.1f}")
            # from 10^5 on: below, the whole input is one block of temporaries
            if n >= 10**5 and row["peak_temporaries"] > TARGET_TEMPORARIES:
                missed.append(f"{name} at n={n:.0e}: "
                              f"{row['peak_temporaries']:.1f} temporaries")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="few, short repeats (a smoke run)")
    parser.add_argument("--only", nargs="+", help="loss names to run")
    parser.add_argument("--json", type=Path,
                        help="store the results under 'speed' in this JSON file")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall-clock time, or the process's CPU time (user + system: "
                             "steadier on a machine that other work keeps busy; both "
                             "libraries run on one thread)")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCKS[args.clock]
    repeats, budget = (3, 0.002) if args.quick else (args.repeats, 0.02)
    results = run(args.sizes, repeats, budget, args.only)
    results["clock"] = args.clock
    missed = check_targets(results)
    print("targets:", "all met" if not missed else "missed:")
    for line in missed:
        print("  " + line)
    if args.json:
        stored = json.loads(args.json.read_text()) if args.json.exists() else {}
        stored["machine"] = results["machine"]
        stored["speed"] = {k: v for k, v in results.items() if k != "machine"}
        stored["speed"]["missed"] = missed
        args.json.write_text(json.dumps(stored, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
