"""Evaluation speed: nas4cnn's engine against the seed's way (one model at a time, per-sample
Dataset + DataLoader), in one run on the same machine.

(a) the same distinct random genotypes x 8 epochs of digits: the seed's own training code,
    the same method as a tidy loop, and the engine;
(b) a full default search (50 x 20, 8 epochs) evaluated by the engine, and the same search
    evaluated by the seed's code (every requested evaluation trained afresh).

    python benchmarks/bench_engine.py              # both parts (part b takes several minutes)
    python benchmarks/bench_engine.py --skip-search
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from seed_way import SeedWayEvaluator, evaluate_seed_way, loaders  # noqa: E402

from nas4cnn.config import RunConfig  # noqa: E402
from nas4cnn.data import load_digits  # noqa: E402
from nas4cnn.evaluator import Evaluator  # noqa: E402
from nas4cnn.search import run_search  # noqa: E402
from nas4cnn.space import SearchSpace  # noqa: E402


class PeakMemory:
    """Peak memory of this process and its children (sum of proportional set sizes, so pages
    shared after fork count once), sampled every 50 ms."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        me, total = os.getpid(), 0
        parents = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    parents[int(d)] = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        tree = {me}
        changed = True
        while changed:
            changed = False
            for pid, ppid in parents.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    changed = True
        for pid in tree:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, torch {torch.__version__}"


# Both sides train the seed's way (its recipe: raw inputs, constant Adamax 1e-3, no
# augmentation), so that only the evaluation machinery differs.
SEED = RunConfig.recipe("seed")


def part_a(n: int, epochs: int, seed: int, workers: int | None) -> None:
    space = SearchSpace()
    rng = np.random.default_rng(seed)
    genotypes: list = []
    while len(genotypes) < n:
        g = space.canonical(space.random_genotype(rng))
        if g not in genotypes:
            genotypes.append(g)
    data = load_digits()
    nmax = 206_742

    start = time.perf_counter()
    with PeakMemory() as mem, Evaluator(space, data, replace(SEED.train, epochs=epochs), 0.01, seed,
                                        "cpu", workers) as ev:
        fast = ev.evaluate(genotypes)
        w = ev.executor.workers
    t_engine = time.perf_counter() - start

    ae = n * epochs
    print(f"(a) {n} distinct genotypes x {epochs} epochs on digits")
    times = {}
    for label, seed_code in (("seed's code", True), ("tidy loop", False)):
        torch.manual_seed(seed)
        train, val = loaders()
        start = time.perf_counter()
        slow = [evaluate_seed_way(space.decode(g), train, val, epochs, 0.01, nmax, seed_code) for g in genotypes]
        times[label] = time.perf_counter() - start
        print(f"    {label:11s}: {times[label]:7.2f} s  ({1000 * times[label] / ae:5.1f} ms per architecture-epoch), "
              f"mean val error {statistics.mean(r['val_error'] for r in slow):.4f}")
    print(f"    engine     : {t_engine:7.2f} s  ({1000 * t_engine / ae:5.1f} ms per architecture-epoch), "
          f"mean val error {statistics.mean(r.val_error for r in fast):.4f}, {w} workers, "
          f"peak memory {mem.peak / 2**20:.0f} MiB")
    seed_code, tidy = times["seed's code"], times["tidy loop"]
    print(f"    speed-up   : {seed_code / t_engine:.1f}x against the seed's code, "
          f"{tidy / t_engine:.1f}x against the tidy loop")


def part_b(workers: int | None) -> None:
    config = SEED
    space, s = config.space, config.search
    data = load_digits()
    start = time.perf_counter()
    with PeakMemory() as mem, Evaluator(space, data, config.train, s.lam, s.seed, "cpu", workers) as ev:
        fast = run_search(config, ev)
    t_engine = time.perf_counter() - start

    torch.manual_seed(s.seed)
    slow_ev = SeedWayEvaluator(space, s.lam, config.train.epochs, ev.nmax)
    start = time.perf_counter()
    slow = run_search(config, slow_ev)
    t_seed = time.perf_counter() - start

    print(f"(b) full default search: {s.generations} generations x {s.population}, {config.train.epochs} epochs")
    print(f"    seed's code: {t_seed:7.1f} s, best objective {slow.best.objective:.4f} ({slow.best.arch}), "
          f"{slow.n_trained} networks trained")
    print(f"    engine     : {t_engine:7.1f} s, best objective {fast.best.objective:.4f} ({fast.best.arch}), "
          f"{fast.n_trained} networks trained of {fast.n_requested} requested, peak memory {mem.peak / 2**20:.0f} MiB")
    print(f"    speed-up   : {t_seed / t_engine:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genotypes", type=int, default=20)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="engine worker processes (default: one per core)")
    p.add_argument("--skip-search", action="store_true", help="skip part (b)")
    args = p.parse_args()
    print(f"machine: {machine()}")
    part_a(args.genotypes, args.epochs, args.seed, args.workers)
    if not args.skip_search:
        part_b(args.workers)


if __name__ == "__main__":
    main()
