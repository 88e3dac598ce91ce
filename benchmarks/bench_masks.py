"""What masks cost. Prints ratios.

    .venv/bin/python benchmarks/bench_masks.py          # about two minutes
    .venv/bin/python benchmarks/bench_masks.py --quick  # shorter measurements

One thread; the sides of every ratio are measured in the same process, alternately, round after
round, with torch.utils.benchmark (blocked_autorange); a ratio is the median over rounds of the
round's ratio (paired, so that a neighbour's load shared by both sides cancels), shown with its
quartiles.

1. A masked batch against an unmasked batch of the same padded shape: forward and backward of a
   DeepSets network (2 equivariant layers, an invariant read-out), for each pooling rule and two
   widths (target: masked <= 1.3x unmasked).
2. Training on a stream of sets of mixed sizes (n ~ U{5..20}, batch 64, a training step =
   forward, backward and an Adam update), per sample trained:
   padding   - mixed batches, each padded to n_max = 20, with its mask;
   ranges    - sets grouped by size range (5-8, 9-12, 13-16, 17-20): every batch holds sets of one
               range, padded to its top (symlib.data.trim_padding with lengths 8, 12, 16, 20),
               with its mask;
   buckets   - sets grouped by size: every batch holds sets of one size, unpadded, no mask.
   (Grouping changes what a batch holds, not the stream: over an epoch every size comes up
   equally often in each scheme.)
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils import benchmark

from symlib import data, models

torch.set_num_threads(1)
N_MIN, N_MAX, D, BATCH = 5, 20, 5, 64


def measure(fns: dict, rounds: int, min_run_time: float) -> dict:
    """Seconds per call of each function in each round (a list per name), measured alternately."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=1)
            times[name].append(timer.blocked_autorange(min_run_time=min_run_time).median)
    return times


def ratio(times: dict, top: str, bottom: str) -> str:
    """Median (and quartiles) over rounds of the paired ratio top / bottom."""
    ratios = sorted(a / b for a, b in zip(times[top], times[bottom]))
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{median:4.2f}x [{q1:4.2f}, {q3:4.2f}]"


def us(times: list) -> str:
    return f"{statistics.median(times) * 1e6:5.0f} us"


def forward_backward(model, x, mask=None):
    def step():
        out = model(x) if mask is None else model(x, mask=mask)
        out.sum().backward()
    return step


def masked_against_unmasked(rounds: int, min_run_time: float) -> None:
    print(f"1. forward + backward of DeepSets, batch {BATCH}, padded to n = {N_MAX} (sizes {N_MIN}..{N_MAX}, "
          f"d = {D}): masked / unmasked (target <= 1.3x)")
    task = data.VariableSizeVarianceTask(N_MIN, N_MAX, D)
    x, mask, _ = task.sample(BATCH, seed=0)
    for width in (10, 32):
        for pool in ("sum", "mean", "max"):
            torch.manual_seed(0)
            model = models.deepsets(D, width, pool=pool)
            t = measure({"unmasked": forward_backward(model, x), "masked": forward_backward(model, x, mask)},
                        rounds, min_run_time)
            print(f"   width {width:2d}, pool {pool:4s}: unmasked {us(t['unmasked'])}, masked {us(t['masked'])} "
                  f"-> masked / unmasked {ratio(t, 'masked', 'unmasked')}")


def training_steps(model, batches):
    """A function that trains on the next batch of ``batches`` (cycled) each call."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = {"i": 0}
    criterion = torch.nn.functional.binary_cross_entropy_with_logits

    def step():
        x, mask, y = batches[state["i"] % len(batches)]
        state["i"] += 1
        optimizer.zero_grad(set_to_none=True)
        out = model(x) if mask is None else model(x, mask=mask)
        criterion(out[:, 0], y).backward()
        optimizer.step()
    return step


RANGES = ((5, 8), (9, 12), (13, 16), (17, 20))


def stream_batches(count: int) -> dict:
    """The same kind of stream three ways: each list holds ``count`` batches of BATCH sets."""
    task = data.VariableSizeVarianceTask(N_MIN, N_MAX, D)
    g = torch.Generator().manual_seed(1)
    padded = [task.sample(BATCH, g) for _ in range(count)]
    ranges, buckets = [], []
    for i in range(count):
        low, high = RANGES[i % len(RANGES)]  # every range equally often, as its sizes are drawn
        x, mask, y = data.VariableSizeVarianceTask(low, high, D).sample(BATCH, g)
        ranges.append((*data.trim_padding(x, mask, lengths=[r[1] for r in RANGES]), y))
        n = N_MIN + i % (N_MAX - N_MIN + 1)  # every size equally often
        x, y = data.GaussianVarianceTask(n, D).sample(BATCH, g)
        buckets.append((x, None, y))
    return {"padding": padded, "ranges": ranges, "buckets": buckets}


def padding_against_buckets(rounds: int, min_run_time: float) -> None:
    print(f"2. training on a stream of mixed sizes (n ~ U{{{N_MIN}..{N_MAX}}}, batch {BATCH}), "
          "time per training step (forward, backward, Adam)")
    streams = stream_batches(48)  # a multiple of 4 ranges and of 16 sizes
    for width in (10, 32):
        steps = {}
        for name, batches in streams.items():
            torch.manual_seed(0)
            steps[name] = training_steps(models.deepsets(D, width, set_size=12), batches)
        t = measure(steps, rounds, min_run_time)
        fastest = min(t, key=lambda k: statistics.median(t[k]))
        print(f"   width {width:2d}: " + ", ".join(f"{k} {us(v)}" for k, v in t.items()) + f" -> fastest: {fastest}")
        print(f"             padding / buckets {ratio(t, 'padding', 'buckets')}, ranges / buckets "
              f"{ratio(t, 'ranges', 'buckets')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    args = parser.parse_args()
    rounds, min_run_time = (5, 0.1) if args.quick else (21, 0.2)
    masked_against_unmasked(rounds, min_run_time)
    padding_against_buckets(rounds, min_run_time)


if __name__ == "__main__":
    main()
