"""Runs trained together as one ensemble against the same runs one at a time. Prints ratios.

    .venv/bin/python benchmarks/bench_ensemble.py          # everything (a few minutes)
    .venv/bin/python benchmarks/bench_ensemble.py --quick  # fewer steps

One thread, both sides in the same process, measured side by side:
1. 10 members against 10 solo runs (fresh data, batch 32), DeepSets widths 10 and 32 (target >= 5x);
2. 60 members (5 training-set sizes x 4 learning rates x 3 seeds, fixed sets, 20% held out for
   validation) against the 60 runs one by one, through experiments.run_pack / experiments.run:
   the original's DeepSets (width 10, batch 32; target >= 12x), and the learning-curve chapter's
   (width 32, batch 64), whose larger matmuls leave less framework overhead to share (packed as a
   sweep packs them);
3. what validation (every tenth of the run) and checkpoint keeping add to that 60-member pack's
   wall time (target <= 15%);
4. epoch budgets: packing only runs with equal step counts, against one pack whose short runs are
   frozen once finished (a frozen member still rides through every batched step, so the pack costs
   what all members running to the longest count cost);
5. the optimizer: symlib's per-member foreach AdamW against torch's fused AdamW on a solo model.
"""

from __future__ import annotations

import argparse
import time

import torch

from symlib import data, experiments as ex, models, train

torch.set_num_threads(1)
TASK = data.GaussianVarianceTask(10, 5)


def fit_seconds(members: int, width: int, steps: int) -> float:
    model = models.deepsets(5, width, set_size=10, ensemble_size=members)
    history = train.fit(model, TASK, steps=steps, batch_size=32, test_size=100, eval_every=steps,
                        seeds=list(range(members)))
    return float(history["seconds"].iloc[-1])


def ensemble_against_solo(steps: int) -> None:
    print("1. 10 runs as one ensemble against 10 solo runs (fit's training seconds)")
    for width in (10, 32):
        solo = sum(fit_seconds(1, width, steps) for _ in range(10))
        together = min(fit_seconds(10, width, steps) for _ in range(2))
        print(f"   DeepSets width {width:2d}: 10 solo runs {solo:6.2f} s, one ensemble {together:5.2f} s "
              f"-> {solo / together:4.1f}x (target >= 5x)")


def learning_curve_point(steps: int, width: int = 10, batch: int = 32) -> list[ex.Config]:
    base = ex.Config(approach="deepsets", width=width, train_size=64, val_fraction=0.2, steps=steps, batch_size=batch,
                     test_size=2000)
    return ex.grid(base, train_size=[64, 128, 256, 512, 1024], lr=[1e-3, 3e-3, 1e-2, 3e-2], seed=[0, 1, 2])


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def packed_against_one_by_one(steps: int) -> None:
    for width, batch in ((10, 32), (32, 64)):
        configs = learning_curve_point(steps, width, batch)
        print(f"2. {len(configs)} runs (5 sizes x 4 learning rates x 3 seeds), DeepSets width {width}, batch {batch}, "
              f"{steps} steps each, in {len(ex.pack(configs))} pack(s)")
        packs = ex.pack(configs)  # as a sweep packs them
        wall_packed, histories = timed(lambda: [ex.run_pack(p) for p in packs])
        train_packed = sum(float(h[0]["seconds"].max()) for h in histories)
        wall_solo, solo = timed(lambda: [ex.run(c) for c in configs])
        train_solo = sum(float(h["seconds"].max()) for h in solo)
        target = " (target >= 12x)" if width == 10 else ""
        print(f"   training time: one by one {train_solo:6.1f} s, packed {train_packed:5.1f} s "
              f"-> {train_solo / train_packed:4.1f}x{target}")
        print(f"   wall time (with building, data, validation, test): one by one {wall_solo:6.1f} s, packed "
              f"{wall_packed:5.1f} s -> {wall_solo / wall_packed:4.1f}x")


def validation_cost(steps: int) -> None:
    configs = learning_curve_point(steps)
    plain = [c.replace(val_fraction=None, eval_every=steps) for c in configs]
    with_val = min(timed(lambda: ex.run_pack(configs))[0] for _ in range(2))
    without = min(timed(lambda: ex.run_pack(plain))[0] for _ in range(2))
    print(f"3. validation every {configs[0].evaluation_interval} steps + checkpoints, the 60-member pack: "
          f"{with_val:5.1f} s against {without:5.1f} s without -> +{with_val / without - 1:.1%} (target <= 15%)")


def budgets(epochs: int, min_steps: int) -> None:
    base = ex.Config(approach="deepsets", width=32, train_size=64, val_fraction=0.2, epochs=epochs,
                     min_steps=min_steps, batch_size=64, test_size=2000, eval_every=min_steps)
    configs = ex.grid(base, train_size=[64, 256, 1024, 4096], lr=[1e-3, 1e-2], seed=[0, 1, 2])
    packs = ex.pack(configs)
    equal, _ = timed(lambda: [ex.run_pack(p) for p in packs])
    longest = max(c.steps for c in configs)
    frozen, _ = timed(lambda: ex.run_pack([c.replace(epochs=None, min_steps=None, steps=longest) for c in configs]))
    counts = sorted({c.steps for c in configs})
    print(f"4. epoch budget ({epochs} epochs, floor {min_steps} steps: step counts {counts}): "
          f"{len(packs)} packs of equal counts {equal:5.1f} s, one pack frozen at each end {frozen:5.1f} s "
          f"-> equal counts are {frozen / equal:.1f}x faster")


def optimizers() -> None:
    import torch.utils.benchmark as benchmark

    model = models.deepsets(5, 32, set_size=10)
    model(torch.randn(64, 10, 5)).sum().backward()
    params = list(model.parameters())
    ours = train._MemberAdamW(params, 1, torch.tensor([1e-3]), torch.tensor([0.0]))
    active = torch.ones(1, dtype=torch.bool)
    fused = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0, fused=True)
    foreach = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0, foreach=True)
    timings = {}
    for name, stmt in (("symlib per-member foreach", lambda: ours.step(1.0, active)),
                       ("torch AdamW fused", fused.step), ("torch AdamW foreach", foreach.step)):
        timings[name] = benchmark.Timer("f()", globals={"f": stmt}).blocked_autorange(min_run_time=0.5).median
    print("5. one optimizer step, solo DeepSets width 32: " + ", ".join(
        f"{k} {v * 1e6:.0f} us" for k, v in timings.items()))
    ensemble = models.deepsets(5, 32, set_size=10, ensemble_size=60)
    ensemble(torch.randn(60 * 64, 10, 5)).sum().backward()
    members = train._MemberAdamW(list(ensemble.parameters()), 60, torch.full((60,), 1e-3), torch.zeros(60))
    per_member = benchmark.Timer("f()", globals={"f": lambda: members.step(1.0, torch.ones(60, dtype=torch.bool))}) \
        .blocked_autorange(min_run_time=0.5).median
    print(f"   60 members with their own learning rates: {per_member * 1e6:.0f} us per step "
          f"({per_member / timings['symlib per-member foreach']:.1f}x one solo step, for 60 runs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steps = 128 if args.quick else 512  # whole chunks of fresh data at batch 32 (train.CHUNK_SAMPLES)
    ensemble_against_solo(steps)
    packed_against_one_by_one(steps)
    validation_cost(steps)
    budgets(epochs=2 if args.quick else 5, min_steps=50 if args.quick else 200)
    optimizers()
