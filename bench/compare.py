"""Speed of ``lossfns`` against an earlier version of itself, side by side in one run.

The earlier version is imported from a ``git worktree`` of a commit (by default the last
commit before the readable rewrite of issue 12, ``BEFORE``) under the name
``lossfns_before``, so both run in one process on the same data: ``value_and_grad`` of
every loss in ``bench/speed.py``, at 10^5, 10^6 and 10^7 entries, one thread, repeats
interleaved (the order rotates every repeat). The ratio reported is the median of the
per-repeat ratios now / before, with its interquartile range. No copy of the old code is
committed: the worktree lives in a temporary folder. With ``--torch``, PyTorch's forward
and backward pass (``bench/speed.py``'s equivalent of each loss) runs as a third
contestant in the same repeats, so that both versions' ratios to torch come from one run.

Every loss is timed at the smallest size before any loss at the next: glibc's allocator
raises its thresholds for returning memory to the system once a large array is freed
(to twice the largest freed array, up to 64 MB), so a loss timed at 10^5 after another
ran at 10^6 would never see the heap trimming (and the page faults) that a process
working at 10^5 sees. Sizes in ascending order measure each size as such a process does.

Usage (from the repository root)::

    python bench/compare.py                          # against BEFORE, all sizes
    python bench/compare.py --before <commit>        # against another commit
    python bench/compare.py --json bench/results.json   # also store the ratios
    python bench/compare.py --block-size 16384       # the current code in other blocks
    python bench/compare.py --torch                  # torch as a third contestant
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import speed  # noqa: E402  (the cases and the timing helpers)

BEFORE = "5321800"  # the last commit of the hand-tuned formulas
SIZES = (10**5, 10**6, 10**7)
TARGET = 1.15  # now / before, issue 12


def load_version(commit: str | None = None, path: Path | None = None):
    """``lossfns`` as of ``commit`` (checked out into a temporary git worktree), or from
    the package folder ``path``, imported as the module ``lossfns_before``."""
    if path is None:
        path = Path(tempfile.gettempdir()) / f"lossfns-before-{commit}"
        if not (path / "lossfns" / "__init__.py").exists():
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force",
                 str(path), commit],
                check=True, capture_output=True,
            )
        path = path / "lossfns"
    spec = importlib.util.spec_from_file_location(
        "lossfns_before", path / "__init__.py", submodule_search_locations=[str(path)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["lossfns_before"] = module
    spec.loader.exec_module(module)
    return module


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def _time(function, number: int, clock) -> float:
    start = clock()
    for _ in range(number):
        function()
    return (clock() - start) / number


def measure(calls: dict, repeats: int, budget: float, clock=time.perf_counter) -> dict:
    """Interleaved timings of ``calls`` (``now``, ``before`` and maybe ``torch``): the order
    rotates every repeat; ratios of now and before to the others, per repeat."""
    numbers = {k: speed._calibrate(f, budget) for k, f in calls.items()}
    samples = {k: [] for k in calls}
    names = list(calls)
    gc.collect()
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            samples[name].append(_time(calls[name], numbers[name], clock))
    row = {name: speed._summary(times) for name, times in samples.items()}
    pairs = [("ratio", "now", "before")]
    if "torch" in calls:
        pairs += [("now_over_torch", "now", "torch"), ("before_over_torch", "before", "torch")]
    for key, a, b in pairs:
        row[key] = speed._summary([x / y for x, y in zip(samples[a], samples[b])])
    return row


def run(before_module, sizes=SIZES, repeats=None, budget=0.02, only=None, log=print,
        clock="wall", torch=False) -> dict:
    import lossfns

    now_cases, _ = speed._cases(lossfns)
    before_cases, _ = speed._cases(before_module)
    pairs = [(now, before) for now, before in zip(now_cases, before_cases)
             if not only or now.name in only]
    results = {now.name: [] for now, _ in pairs}
    for n in sorted(sizes):  # every loss at one size before the next (see the docstring)
        for now, before in pairs:
            data = now.make(n, np.random.default_rng(0))
            calls = {"now": lambda: now.call(data), "before": lambda: before.call(data)}
            if torch:
                calls["torch"] = speed._torch_call(now, data)
            reps = repeats or (7 if n >= 10**7 else 11)
            row = {"n": n, **measure(calls, reps, budget, CLOCKS[clock])}
            results[now.name].append(row)
            ratio = row["ratio"]
            log(f"{now.name:34s} n={n:>9.0e}  now {row['now']['median'] * 1e3:9.3f} ms"
                f"  before {row['before']['median'] * 1e3:9.3f} ms"
                f"  now/before {ratio['median']:5.2f} [{ratio['q25']:.2f}, {ratio['q75']:.2f}]"
                + (f"  now/torch {row['now_over_torch']['median']:5.2f}"
                   f"  before/torch {row['before_over_torch']['median']:5.2f}" if torch else ""))
    missed = [
        f"{name} at n={row['n']:.0e}: {row['ratio']['median']:.2f}"
        for name, rows in results.items()
        for row in rows
        if row["ratio"]["median"] > TARGET
    ]
    return {"losses": results, "target": TARGET, "missed": missed, "clock": clock,
            "torch": torch}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--before-path", type=Path,
                        help="a lossfns package folder to compare with, instead of a commit")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="few, short repeats")
    parser.add_argument("--only", nargs="+", help="loss names to run")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall-clock time, or the process's CPU time (user + system: "
                             "steadier on a machine that other work keeps busy)")
    parser.add_argument("--block-size", type=int,
                        help="evaluate the current code in blocks of this many entries "
                             "(how lossfns._core.BLOCK_SIZE was chosen; a cheap formula's blocks are "
                             "lossfns._core.LARGE_BLOCKS times larger)")
    parser.add_argument("--block-budget", type=int,
                        help="evaluate the current code with this lossfns._core.BLOCK_BUDGET "
                             "(bytes of a block's live arrays; how it was chosen)")
    parser.add_argument("--torch", action="store_true",
                        help="time torch's forward and backward pass too, in the same repeats")
    parser.add_argument("--json", type=Path,
                        help="store the results under 'before_after' in this JSON file")
    args = parser.parse_args(argv)
    before_module = load_version(args.before, args.before_path)
    if args.block_size:
        import lossfns._core

        lossfns._core.BLOCK_SIZE = args.block_size
    if args.block_budget:
        import lossfns._core

        lossfns._core.BLOCK_BUDGET = args.block_budget
    repeats, budget = (3, 0.002) if args.quick else (args.repeats, 0.02)
    load_before = os.getloadavg()
    results = run(before_module, args.sizes, repeats, budget, args.only, clock=args.clock,
                  torch=args.torch)
    # the machine's load (1, 5 and 15 minute averages) when the run began and ended
    results["load_average"] = {"start": load_before, "end": os.getloadavg()}
    results["before"] = str(args.before_path) if args.before_path else args.before
    import lossfns._core

    results["block_size"] = lossfns._core.BLOCK_SIZE
    results["block_budget"] = lossfns._core.BLOCK_BUDGET
    print("target now/before <=", TARGET, ":", "met" if not results["missed"] else "missed:")
    for line in results["missed"]:
        print("  " + line)
    if args.json:
        stored = json.loads(args.json.read_text()) if args.json.exists() else {}
        stored["before_after"] = results
        args.json.write_text(json.dumps(stored, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
