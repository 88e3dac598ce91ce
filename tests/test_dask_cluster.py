"""A sweep on a real Dask cluster: one `dask scheduler` and two `dask worker` processes on localhost.

This is the README's route for rerunning beyond one machine (`make book SCHEDULER=tcp://...`),
on one machine: the results must equal a local run's, and no cluster process may outlive teardown.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from symlib.experiments import Config, sweep

BIN = Path(sys.executable).parent
DASK = BIN / "dask"
pytestmark = pytest.mark.skipif(not DASK.exists(), reason=f"no dask command next to {sys.executable}")
CONFIGS = [Config(approach="deepsets", steps=20, eval_every=10, test_size=200, batch_size=16, width=4),
           Config(approach="dense", steps=20, eval_every=10, test_size=200, batch_size=16, width=4)]


def alive(proc: psutil.Process) -> bool:
    # A zombie has exited; it only waits for its parent (maybe a container's init) to reap it.
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} within {timeout} s")


class Cluster:
    """A scheduler and workers as separate processes; ``stop`` ends them and everything they started."""

    def __init__(self, folder: Path, workers: int = 2) -> None:
        self.procs: list[subprocess.Popen] = []
        self.tree: list[psutil.Process] = []
        self.logs = folder
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("SYMLIB_SCHEDULER", None)
        scheduler_file = folder / "scheduler.json"
        self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", scheduler_file], env)
        wait_for(scheduler_file.exists, 30, "the scheduler did not start")
        self.address = json.loads(scheduler_file.read_text())["address"]
        for i in range(workers):
            self._start(f"worker{i}", [DASK, "worker", self.address, "--host", "127.0.0.1", "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard", "--local-directory", folder / f"w{i}"], env)
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=30)
        for proc in self.procs:  # the nannies have started their worker processes by now
            root = psutil.Process(proc.pid)
            self.tree += [root, *root.children(recursive=True)]

    def _start(self, name: str, cmd: list, env: dict) -> None:
        log = open(self.logs / f"{name}.log", "w")
        self.procs.append(subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                                           cwd=self.logs, env=env))
        log.close()

    def stop(self, timeout: float = 20) -> None:
        for proc in reversed(self.procs):  # workers first, then the scheduler
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass

    def kill_leftovers(self) -> None:
        for proc in self.tree:
            if alive(proc):
                proc.kill()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.stop(timeout=5)
    c.kill_leftovers()  # only after a failed test: the test itself checks that stop() was enough


def without_timing(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ("seconds",) if c in df.columns])


def test_sweep_on_a_dask_cluster_equals_the_local_run(cluster, tmp_path, monkeypatch):
    monkeypatch.delenv("SYMLIB_SCHEDULER", raising=False)
    assert len([p for p in cluster.tree if "worker" in " ".join(p.cmdline())]) >= 2
    remote = sweep(CONFIGS, tmp_path / "remote_cache", scheduler=cluster.address)
    local = sweep(CONFIGS, tmp_path / "local_cache", n_jobs=1)
    pd.testing.assert_frame_equal(without_timing(remote), without_timing(local))
    assert set(remote.approach) == {"deepsets", "dense"}
    # The client wrote the cache: a second sweep reads it, with no cluster at all.
    cluster.stop()
    try:
        wait_for(lambda: not any(alive(p) for p in cluster.tree), 10, "every cluster process exits")
    except TimeoutError:
        pytest.fail(f"cluster processes still running after teardown: {[p.pid for p in cluster.tree if alive(p)]}")
    cached = sweep(CONFIGS, tmp_path / "remote_cache", n_jobs=1)
    pd.testing.assert_frame_equal(cached, remote)


def test_make_exports_scheduler_to_the_chapters():
    # The Makefile's own variables, plus a probe target that prints what a chapter's process would see.
    probe = 'probe:\n\t@echo "[$$SYMLIB_SCHEDULER]"\n'
    env = {k: v for k, v in os.environ.items() if k not in ("SYMLIB_SCHEDULER", "SCHEDULER", "MAKEFLAGS")}
    root = Path(__file__).resolve().parents[1]

    def seen(*args: str) -> str:
        out = subprocess.run(["make", "-s", "-f", "Makefile", "-f", "-", "probe", *args], input=probe, cwd=root,
                             env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert seen("SCHEDULER=tcp://127.0.0.1:8786") == "[tcp://127.0.0.1:8786]"
    assert seen() == "[]"
