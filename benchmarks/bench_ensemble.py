"""Training E runs as one ensemble against E runs one after another. Prints the speedup.

    .venv/bin/python benchmarks/bench_ensemble.py

Both sides run the same fit() (fresh data, batch 32); the ensemble's members are folded into the
batch axis, so a step costs one set of kernels instead of E.
"""

from __future__ import annotations

import torch

from symlib import data, models, train

torch.set_num_threads(1)
TASK = data.GaussianVarianceTask(10, 5)
STEPS = 300


def seconds(members: int, width: int) -> float:
    model = models.deepsets(5, width, set_size=10, ensemble_size=members)
    return train.fit(model, TASK, steps=STEPS, batch_size=32, test_size=100, eval_every=STEPS,
                     seeds=list(range(members)))["seconds"].iloc[-1]


if __name__ == "__main__":
    for width in (10, 32):
        solo = min(seconds(1, width) for _ in range(3))
        for members in (10, 50):
            together = min(seconds(members, width) for _ in range(2))
            print(f"DeepSets width {width}: {members} runs one at a time {members * solo:.2f} s, as one ensemble "
                  f"{together:.2f} s -> {members * solo / together:.1f}x (target >= 5x at 10 members)")
