"""Evaluation speed: nas4cnn's engine against the seed's way (one model at a time, per-sample
Dataset + DataLoader), in one run on the same machine.

(a) the same distinct random genotypes x 8 epochs of digits: the seed's own training code,
    the same method as a tidy loop, and the engine;
(b) a full default search (50 x 20, 8 epochs) evaluated by the engine, and the same search
    evaluated by the seed's code (every requested evaluation trained afresh).

(c) with --all-genotypes, only: all 1,200 genotypes of the seed's space x 8 epochs as one
    batch of requests on --device (the GPU target; equivalent genotypes share one training).

    python benchmarks/bench_engine.py              # parts (a) and (b) (part b takes several minutes)
    python benchmarks/bench_engine.py --skip-search
    python benchmarks/bench_engine.py --all-genotypes --device cuda
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
from original_way import OriginalWayEvaluator, evaluate_original_way, loaders  # noqa: E402

from nas4cnn.api.search_runs import make_search_strategy  # noqa: E402
from nas4cnn.core.config import RunConfig  # noqa: E402
from nas4cnn.core.objective import objective  # noqa: E402
from nas4cnn.core.space import SearchSpace  # noqa: E402
from nas4cnn.data.sources.digits import load_digits  # noqa: E402
from nas4cnn.nn.engine import train_group  # noqa: E402
from nas4cnn.nn.groups import Candidate  # noqa: E402
from nas4cnn.nn.model import count_params, max_params  # noqa: E402
from nas4cnn.searching.engine_evaluator import EngineEvaluator  # noqa: E402
from nas4cnn.searching.loop import run_search  # noqa: E402


class PeakMemory:
    """Peak memory of this process and its children (sum of proportional set sizes, so pages
    shared after fork count once), sampled every 50 ms. Sampling costs CPU time, so timed
    runs are made without it and repeated under it for the memory figure."""

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


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown CPU" where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    return f"{os.cpu_count()} cores, {cpu_name()}, Python {platform.python_version()}, torch {torch.__version__}"


# Both sides train the seed's way (its recipe: raw inputs, constant Adamax 1e-3, no
# augmentation), so that only the evaluation machinery differs.
ORIGINAL = RunConfig.recipe("seed")


def part_a(n: int, epochs: int, seed: int, workers: int | None) -> None:
    space = SearchSpace()
    rng = np.random.default_rng(seed)
    genotypes: list = []
    while len(genotypes) < n:
        g = space.canonical(space.random_genotype(rng))
        if g not in genotypes:
            genotypes.append(g)
    data = load_digits()
    nmax = max_params(space, data.input_shape, data.num_classes)  # 206,742 on digits

    def engine_run():
        with EngineEvaluator(space, data, replace(ORIGINAL.train, epochs=epochs), 0.01, seed, "cpu", workers) as ev:
            return ev.evaluate(genotypes), ev.executor.workers

    start = time.perf_counter()
    fast, w = engine_run()
    t_engine = time.perf_counter() - start
    with PeakMemory() as mem:  # a second run: the sampler would otherwise compete for the cores
        engine_run()

    ae = n * epochs
    print(f"(a) {n} distinct genotypes x {epochs} epochs on digits")
    times = {}
    for label, original_code in (("seed's code", True), ("tidy loop", False)):
        torch.manual_seed(seed)
        train, val = loaders()
        start = time.perf_counter()
        slow = [evaluate_original_way(space.decode(g), train, val, epochs, 0.01, nmax, original_code) for g in genotypes]
        times[label] = time.perf_counter() - start
        print(f"    {label:11s}: {times[label]:7.2f} s  ({1000 * times[label] / ae:5.1f} ms per architecture-epoch), "
              f"mean val error {statistics.mean(r['val_error'] for r in slow):.4f}")
    print(f"    engine     : {t_engine:7.2f} s  ({1000 * t_engine / ae:5.1f} ms per architecture-epoch), "
          f"mean val error {statistics.mean(r.val_error for r in fast):.4f}, {w} workers, "
          f"peak memory {mem.peak / 2**20:.0f} MiB")
    original_code, tidy = times["seed's code"], times["tidy loop"]
    print(f"    speed-up   : {original_code / t_engine:.1f}x against the seed's code, "
          f"{tidy / t_engine:.1f}x against the tidy loop")


def part_b(workers: int | None) -> None:
    config = ORIGINAL
    space, s = config.space, config.search
    data = load_digits()

    def engine_run():
        with EngineEvaluator(space, data, config.train, s.lam, s.seed, "cpu", workers) as ev:
            return run_search(make_search_strategy(config), ev, config.search.generations)

    start = time.perf_counter()
    fast = engine_run()
    t_engine = time.perf_counter() - start
    with PeakMemory() as mem:  # a second run: the sampler would otherwise compete for the cores
        engine_run()

    torch.manual_seed(s.seed)
    slow_ev = OriginalWayEvaluator(space, s.lam, config.train.epochs, max_params(space, data.input_shape, data.num_classes))
    start = time.perf_counter()
    slow = run_search(make_search_strategy(config), slow_ev, config.search.generations)
    t_seed = time.perf_counter() - start

    print(f"(b) full default search: {s.generations} generations x {s.population}, {config.train.epochs} epochs")
    print(f"    seed's code: {t_seed:7.1f} s, best objective {slow.best.objective:.4f} ({slow.best.arch}), "
          f"{slow.n_trained} networks trained")
    print(f"    engine     : {t_engine:7.1f} s, best objective {fast.best.objective:.4f} ({fast.best.arch}), "
          f"{fast.n_trained} networks trained of {fast.n_requested} requested, peak memory {mem.peak / 2**20:.0f} MiB")
    print(f"    speed-up   : {t_seed / t_engine:.1f}x")
    # A search's best objective is one training's score; the seed's way re-trains repeated
    # genotypes and keeps the luckiest. What counts is how good each pick is when trained
    # afresh: both picks, the same 5 new initialisations and data orders, 8 epochs each.
    picks = [slow.best.genotype, fast.best.genotype]
    nmax = max_params(space, data.input_shape, data.num_classes)
    scores: dict = {g: [] for g in picks}
    for g in scores:
        arch = space.decode(g)
        params = count_params(arch, data.input_shape, data.num_classes)
        for r in range(5):
            _, (hist,), _ = train_group([Candidate(arch, 10_000 + r)], data, config.train, config.train.epochs,
                                        seed=10_000 + r)
            scores[g].append(objective(hist[-1].val_error, params, nmax, s.lam))
    for label, g in (("seed's code", picks[0]), ("engine", picks[1])):
        v = scores[g]
        print(f"    re-trained : {label}'s pick {space.name(g)}: objective {statistics.mean(v):.4f} "
              f"± {statistics.stdev(v):.4f} over 5 fresh trainings")


def part_c(epochs: int, seed: int, device: str, workers: int | None) -> None:
    """Every genotype of the seed's space, as one batch of requests (a GPU's workload)."""
    space = SearchSpace()
    genotypes = list(space.all_genotypes())
    data = load_digits()
    with EngineEvaluator(space, data, replace(ORIGINAL.train, epochs=epochs), 0.01, seed, device, workers) as ev:
        if ev.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        res = ev.evaluate(genotypes)
        if ev.device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        w = ev.executor.workers
        cuda = ev.device.type == "cuda"
        name = torch.cuda.get_device_name() if cuda else "cpu"
        peak = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else ""
    ok = [r for r in res if r.ok]
    print(f"(c) all {len(genotypes)} genotypes of the space x {epochs} epochs on {ev.device} ({name}), {w} workers")
    print(f"    {elapsed:7.1f} s for {ev.n_trained} distinct networks trained ({len(ok)} of {len(res)} results ok), "
          f"mean val error {statistics.mean(r.val_error for r in ok):.4f}, "
          f"best {min(ok, key=lambda r: r.objective).arch}{peak}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--genotypes", type=int, default=20)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="engine worker processes (default: one per core)")
    p.add_argument("--skip-search", action="store_true", help="skip part (b)")
    p.add_argument("--all-genotypes", action="store_true",
                   help="only part (c): every genotype of the space on --device (the GPU figure)")
    p.add_argument("--device", default="auto", help="device for part (c): auto, cpu or cuda")
    args = p.parse_args()
    print(f"machine: {machine()}")
    if args.all_genotypes:
        part_c(args.epochs, args.seed, args.device, args.workers)
        return
    part_a(args.genotypes, args.epochs, args.seed, args.workers)
    if not args.skip_search:
        part_b(args.workers)


if __name__ == "__main__":
    main()
