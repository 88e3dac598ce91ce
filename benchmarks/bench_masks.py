"""What masks cost. Prints ratios.

    .venv/bin/python benchmarks/bench_masks.py          # about two minutes
    .venv/bin/python benchmarks/bench_masks.py --quick  # shorter measurements

One thread; the two sides of every ratio are measured in the same process, alternately, with
torch.utils.benchmark (blocked_autorange), and each ratio is the median over rounds.

1. A masked batch against an unmasked batch of the same padded shape: forward and backward of a
   DeepSets network (2 equivariant layers, an invariant read-out), for each pooling rule and two
   widths (target: masked <= 1.3x unmasked).
2. Training on a stream of sets of mixed sizes (n ~ U{5..20}, batch 64, a training step =
   forward, backward and an Adam update), per sample trained:
   padding   - every batch padded to n_max = 20, with its mask;
   trimmed   - every batch cut to the smallest of a few bucket lengths (8, 14, 20) that holds its
               longest set (symlib.data.trim_padding), with its mask;
   buckets   - sets grouped by size: every batch holds sets of one size, unpadded, no mask.
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
    """Median seconds per call of each function, measured alternately, round after round."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=1)
            times[name].append(timer.blocked_autorange(min_run_time=min_run_time).median)
    return {name: statistics.median(t) for name, t in times.items()}


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
            print(f"   width {width:2d}, pool {pool:4s}: unmasked {t['unmasked'] * 1e6:6.0f} us, masked "
                  f"{t['masked'] * 1e6:6.0f} us -> {t['masked'] / t['unmasked']:4.2f}x")


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


def stream_batches(count: int) -> dict:
    """The same kind of stream three ways: each list holds ``count`` batches of BATCH sets."""
    task = data.VariableSizeVarianceTask(N_MIN, N_MAX, D)
    g = torch.Generator().manual_seed(1)
    padded = [task.sample(BATCH, g) for _ in range(count)]
    trimmed = [(*data.trim_padding(x, mask, lengths=(8, 14, 20)), y) for x, mask, y in padded]
    buckets = []
    for _ in range(count):  # one size per batch, drawn as a set's size is
        n = int(torch.randint(N_MIN, N_MAX + 1, (1,), generator=g))
        x, y = data.GaussianVarianceTask(n, D).sample(BATCH, g)
        buckets.append((x, None, y))
    return {"padding": padded, "trimmed": trimmed, "buckets": buckets}


def padding_against_buckets(rounds: int, min_run_time: float) -> None:
    print(f"2. training on a stream of mixed sizes (n ~ U{{{N_MIN}..{N_MAX}}}, batch {BATCH}), "
          "time per training step (forward, backward, Adam)")
    streams = stream_batches(32)
    lengths = [b[0].shape[1] for b in streams["trimmed"]]
    print(f"   trimmed batches' lengths: {', '.join(f'{v}: {lengths.count(v)}' for v in sorted(set(lengths)))}")
    for width in (10, 32):
        steps = {}
        for name, batches in streams.items():
            torch.manual_seed(0)
            steps[name] = training_steps(models.deepsets(D, width, set_size=12), batches)
        t = measure(steps, rounds, min_run_time)
        fastest = min(t, key=t.get)
        print(f"   width {width:2d}: " + ", ".join(f"{k} {v * 1e6:5.0f} us" for k, v in t.items())
              + f" -> fastest: {fastest}; padding / buckets = {t['padding'] / t['buckets']:4.2f}x, "
              f"trimmed / buckets = {t['trimmed'] / t['buckets']:4.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    args = parser.parse_args()
    rounds, min_run_time = (3, 0.2) if args.quick else (7, 0.5)
    masked_against_unmasked(rounds, min_run_time)
    padding_against_buckets(rounds, min_run_time)


if __name__ == "__main__":
    main()
