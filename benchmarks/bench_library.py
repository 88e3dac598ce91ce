"""symlib against the original notebook's pipeline, side by side in one run. Prints ratios.

    .venv/bin/python benchmarks/bench_library.py

1. drawing training batches: DataLoader over per-sample __getitem__ vs one task.sample call;
2. one training step of the first experiment's equivariant network, fresh data, batch 32;
3. enumerating S_8 (40,320 elements): BFS over Python objects vs the vectorized product;
4. GroupAverage over S_7 (5,040 elements) on a batch of 32: peak memory against the chunk size;
5. a compiled training step (torch.compile, inductor) against an eager one;
6. the import time of symlib.layers, beyond torch's own.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import torch
from torch.utils.data import DataLoader

from symlib import data, groups, models, original, train

torch.set_num_threads(1)
N, D, BATCH = 10, 5, 32


def best_of(f, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def batches() -> None:
    loader = DataLoader(original.GaussianDataset(BATCH * 100, (N, D), static=False), batch_size=BATCH)
    orig = best_of(lambda: [b for b in loader]) / 100
    task, gen = data.GaussianVarianceTask(N, D), torch.Generator().manual_seed(0)
    ours = best_of(lambda: [task.sample(BATCH, generator=gen) for _ in range(100)]) / 100
    print(f"1. batch of {BATCH}: original DataLoader {orig * 1e3:.3f} ms, symlib {ours * 1e3:.3f} ms "
          f"-> {orig / ours:.1f}x (target >= 5x)")


def steps(count: int = 600) -> None:
    loader = DataLoader(original.GaussianDataset(BATCH * count, (N, D), static=False), batch_size=BATCH)
    model = original.first_experiment_model(D)
    optimizer, loss = torch.optim.Adam(model.parameters(), lr=1e-3), torch.nn.BCELoss()

    def original_pipeline():
        for x, y in loader:
            out = model(x).reshape(-1)
            optimizer.zero_grad()
            loss(out, y).backward()
            optimizer.step()

    orig = best_of(original_pipeline) / count
    task = data.GaussianVarianceTask(N, D)
    ours = min(train.fit(models.deepsets(D, 10, set_size=N), task, steps=count, batch_size=BATCH, test_size=100,
                         eval_every=count)["seconds"].iloc[-1] for _ in range(3)) / count
    print(f"2. training step (fresh data, batch {BATCH}): original {orig * 1e3:.2f} ms, symlib fit {ours * 1e3:.2f} ms "
          f"(with per-step loss, accuracy and gradient-norm logging) -> {orig / ours:.2f}x (target >= 1.5x)")


def enumeration() -> None:
    gens = [original.Permutation(p) for p in groups.symmetric(8).generators]
    orig = best_of(lambda: sum(1 for _ in original.create_permutations_from_generators(gens)), repeats=1)
    ours = best_of(lambda: groups.symmetric(8).elements())
    print(f"3. enumerate S_8: original BFS {orig:.2f} s, symlib {ours * 1e3:.1f} ms -> {orig / ours:.0f}x (target >= 100x)")


# Peak resident memory during one forward pass, above the process's resident size just before it:
# a thread samples /proc/self/statm (ru_maxrss would only show the larger peak of importing torch).
PEAK = """
import os, sys, threading, time, torch
from symlib import groups, models, symmetrize
torch.set_num_threads(1)
page = os.sysconf("SC_PAGE_SIZE")
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
model = symmetrize.GroupAverage(models.dense(7, 5, 10), groups.symmetric(7), chunk_size=int(sys.argv[1]))
x = torch.randn(32, 7, 5)
with torch.no_grad():
    model(x[:1])  # warm-up: kernels and allocator set up before the baseline
before, peak, done = rss(), [0], threading.Event()
def watch():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)
t = threading.Thread(target=watch)
t.start()
with torch.no_grad():
    model(x)
done.set()
t.join()
print((max(peak[0], rss()) - before) / 2**20)
"""


def group_average_memory() -> None:
    print("4. GroupAverage(dense, S_7), batch 32, forward: peak memory growth by chunk size")
    for chunk in (64, 256, 1024, 5040):
        out = subprocess.run([sys.executable, "-c", PEAK, str(chunk)], capture_output=True, text=True, check=True)
        print(f"   chunk {chunk:5d} elements ({32 * chunk:7,d} model inputs at once): +{float(out.stdout):7.1f} MB")


def compiled_step() -> None:
    import torch.utils.benchmark as benchmark

    for members in (1, 10):
        model = models.deepsets(D, 32, set_size=N, ensemble_size=members)
        x = torch.randn(members * 64, N, D)

        def step(m):
            for p in model.parameters():
                p.grad = None
            m(x).sum().backward()

        compiled = torch.compile(model)
        start = time.perf_counter()
        step(compiled)
        compile_seconds = time.perf_counter() - start
        eager_t, compiled_t = (benchmark.Timer("step(m)", globals={"step": step, "m": m}).blocked_autorange(
            min_run_time=1.0).median for m in (model, compiled))
        print(f"5. DeepSets width 32, {members:2d} member(s), batch 64: eager {eager_t * 1e3:.2f} ms, compiled "
              f"{compiled_t * 1e3:.2f} ms per step -> compiled/eager {compiled_t / eager_t:.2f} "
              f"(first call, compiling: {compile_seconds:.1f} s)")


IMPORT = "import time, torch; t = time.perf_counter(); import symlib.layers; print(time.perf_counter() - t)"


def import_time() -> None:
    runs = [float(subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True, check=True).stdout)
            for _ in range(5)]
    print(f"6. import symlib.layers after torch: {min(runs) * 1e3:.0f} ms (best of 5)")


if __name__ == "__main__":
    batches()
    steps()
    enumeration()
    group_average_memory()
    compiled_step()
    import_time()
