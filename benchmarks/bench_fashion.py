"""Fashion-MNIST figures for the engine on this CPU: speed against the seed's way, how well
a search's cheap fidelities (stratified subsets) rank networks, and how close a training
step comes to the machine's matrix-product rate.

(a) engine vs the seed's way, seconds per architecture-epoch on the same networks: the seed's
    way (one model, a per-sample DataLoader, original_way's training code) timed for a few
    mini-batches and extrapolated to an epoch of all 54,000 training images; the engine
    (`train_group`, one candidate, one epoch) single-threaded, as the search's workers are;
(b) the whole default search with its final model, as a user runs it (`nas4cnn search
    --dataset fashion-mnist --data-dir DIR`, no other flag, in a subprocess): wall time, peak
    memory of its processes, test accuracy, networks trained; then the seed's way for the same
    search, extrapolated from its measured cost per architecture-epoch on a sample of the
    networks the search trained (it trains every requested evaluation on all images);
(c) fidelity agreement: a sample of distinct genotypes trained with the search's recipe on
    stratified subsets of the training images and on all of them (the reference), in groups
    on worker processes; per subset size the Spearman rank correlation of the objectives
    with the reference's, the overlap of the ten best, and the time;
(d) GFLOP/s against sgemm: torch.mm's rate on large square matrices, then the training step
    of a few networks (see `step_flops`), and where a step's time goes.

Without the IDX files in --data-dir, prints one line saying so and exits 0.

    python benchmarks/bench_fashion.py                        # all parts (long: hours on 2 cores)
    python benchmarks/bench_fashion.py --parts a,d --json fashion.json
    python benchmarks/bench_fashion.py --parts c --sample 4 --subsets 500 --full-train 2000 --epochs 1
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).parent))
from original_way import run_epoch_original_code  # noqa: E402

from nas4cnn.core.config import DataConfig, RunConfig, TrainConfig  # noqa: E402
from nas4cnn.core.defaults import choose  # noqa: E402
from nas4cnn.core.objective import objective  # noqa: E402
from nas4cnn.core.seeding import init_seed  # noqa: E402
from nas4cnn.core.space import Architecture, Genotype, SearchSpace  # noqa: E402
from nas4cnn.data.dataset import DataSet, Split  # noqa: E402
from nas4cnn.data.load import load_dataset  # noqa: E402
from nas4cnn.data.sources.idx import FILES  # noqa: E402
from nas4cnn.data.subset import search_subset, subset_split  # noqa: E402
from nas4cnn.nn import fused  # noqa: E402
from nas4cnn.nn.activations import get_activation  # noqa: E402
from nas4cnn.nn.engine import train_group  # noqa: E402
from nas4cnn.nn.groups import Candidate, make_groups  # noqa: E402
from nas4cnn.nn.model import build_model, count_params, feature_hw, max_params  # noqa: E402
from nas4cnn.nn.optimizers import make_group_optimizer  # noqa: E402
from nas4cnn.nn.stacked import LazyPatches, StackedGroup  # noqa: E402
from nas4cnn.nn.steps import FusedSteps, TorchSteps  # noqa: E402
from nas4cnn.nn.train import Prepared  # noqa: E402
from nas4cnn.searching.executors import LocalExecutor, TrainJob  # noqa: E402

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
# The largest network of the seed's space on 28x28 images (2,510,742 parameters; pooling of
# size 1 is canonically "avgpool1"), a middle one and a small one.
DEFAULT_NETWORKS = ("conv32k5-relu-avgpool1-fc100", "conv16k3-relu-maxpool2-fc50", "conv8k3-relu-maxpool2-fc10")
FULL_TRAIN = 54_000  # an epoch of the seed's way and of the engine, in (a)
SEED_BATCH = 64  # the seed's mini-batch


def machine() -> dict:
    from bench_engine import cpu_name

    cpu = cpu_name()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "torch": torch.__version__, "fused_step": fused.available()}


def missing_files(folder: Path) -> list[str]:
    """The IDX files (plain or gzipped) not in `folder`."""
    bases = [b for pair in FILES.values() for b in pair]
    return [b for b in bases if not ((folder / b).is_file() or (folder / f"{b}.gz").is_file())]


@functools.cache
def fashion(data_dir: str) -> DataSet:
    return load_dataset(DataConfig(dataset="fashion-mnist", data_dir=data_dir))


def peak_memory() -> dict:
    """Peak resident memory so far (MiB) of this process and of its largest waited-for child."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self_mib": round(kib[0] / 1024, 1), "children_mib": round(kib[1] / 1024, 1)}


def search_train_config(n_train: int, n_val: int) -> TrainConfig:
    """The search's default recipe on a data set of `n_train` training and `n_val` validation
    images (the whole data set's sizes, not a subset's): the settings left automatic chosen as
    a run chooses them (`nas4cnn.core.defaults`)."""
    return choose(RunConfig(), n_train, n_val)[0].train


def parse_networks(space: SearchSpace, texts: Iterable[str]) -> list[Genotype]:
    return [space.canonical(space.parse(t, "--networks")) for t in texts]


def epochs_text(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


class PerSample(Dataset):
    """The seed's data access: one image at a time."""

    def __init__(self, split: Split):
        self.x, self.y = split.x, split.y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class SeedCNN(nn.Module):
    """`original_way.OriginalCodeCNN` for any input shape (that one is built for 8x8 digits):
    every layer a module, pooling always applied, per-sample NLL summed by hand."""

    def __init__(self, arch: Architecture, input_shape, num_classes: int):
        super().__init__()
        c, p = arch.conv, arch.pooling
        channels, height, width = input_shape
        self.cnn = nn.Conv2d(channels, arch.filters, c.kernel, stride=c.stride, padding=c.padding)
        self.activation = get_activation(arch.activation).layer()
        self.pool = (nn.MaxPool2d if p.kind == "max" else nn.AvgPool2d)(p.size)
        h, w = feature_hw(arch, height, width)
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(arch.filters * h * w, arch.linear)
        self.linear2 = nn.Linear(arch.linear, num_classes)
        self.softmax = nn.LogSoftmax(dim=1)
        self.nll = nn.NLLLoss(reduction="none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.activation(self.cnn(x))))
        return self.softmax(self.linear2(self.activation(self.linear1(x))))


def seed_way_epoch(arch: Architecture, data: DataSet, batches: int, threads: int, seed: int) -> dict:
    """Seconds of the seed's way for one epoch of FULL_TRAIN images and one validation pass,
    extrapolated from `batches` timed mini-batches of each (after one untimed warm-up batch)."""
    rng = np.random.default_rng(seed)
    n_train, n_val = batches * SEED_BATCH, min(batches * SEED_BATCH, len(data.val))
    train = Split(*(t[torch.from_numpy(rng.choice(len(data.train), n_train + SEED_BATCH, replace=False))]
                    for t in (data.train.x, data.train.y)))
    warm, timed = Split(train.x[:SEED_BATCH], train.y[:SEED_BATCH]), Split(train.x[SEED_BATCH:], train.y[SEED_BATCH:])
    val = Split(data.val.x[:n_val], data.val.y[:n_val])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        model = SeedCNN(arch, data.input_shape, data.num_classes)
        opt = torch.optim.Adamax(model.parameters(), lr=1e-3, weight_decay=1e-5)  # the seed's optimiser
        run_epoch_original_code(model, DataLoader(PerSample(warm), batch_size=SEED_BATCH, shuffle=True), opt)
        start = time.perf_counter()
        run_epoch_original_code(model, DataLoader(PerSample(timed), batch_size=SEED_BATCH, shuffle=True), opt)
        t_train = time.perf_counter() - start
        start = time.perf_counter()
        run_epoch_original_code(model, DataLoader(PerSample(val), batch_size=SEED_BATCH, shuffle=False), None)
        t_val = time.perf_counter() - start
    finally:
        torch.set_num_threads(before)
    train_epoch = t_train / n_train * FULL_TRAIN
    val_pass = t_val / n_val * len(data.val)
    return {"threads": threads, "timed_train_images": n_train, "timed_val_images": n_val,
            "train_epoch_s": train_epoch, "val_pass_s": val_pass, "arch_epoch_s": train_epoch + val_pass}


def engine_epoch(arch: Architecture, data: DataSet, cfg: TrainConfig, images: int, seed: int) -> dict:
    """Seconds of a `train_group` call of 1 epoch for one candidate, single-threaded: first with
    a fresh cache (preparing the data, unfolding the training split's patches where they are
    kept, training, one validation pass), then again with the cache it filled, as a search's
    later epochs and other groups find it. On fewer than FULL_TRAIN images: on stratified
    subsets of every split cut in the same proportion, scaled up to the whole splits."""
    images = min(images, len(data.train))
    share = images / len(data.train)
    sub = search_subset(data, images, max(1, round(len(data.val) * share)), seed)
    sub = replace(sub, test=subset_split(sub.test, max(1, round(len(sub.test) * share)), seed))
    cache: dict = {}
    times = []
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(2):
            start = time.perf_counter()
            train_group([Candidate(arch, seed)], sub, cfg, 1, seed, patch_cache=cache)
            times.append((time.perf_counter() - start) / share)
    finally:
        torch.set_num_threads(before)
    return {"train_images": images, "val_images": len(sub.val), "batch_size": cfg.batch_size,
            "augmented": bool(cfg.aug_shift or cfg.aug_rotate or cfg.aug_scale), "extrapolated": share < 1,
            "first_epoch_s": times[0], "arch_epoch_s": times[1]}


def part_a(args) -> dict:
    data = fashion(args.data_dir)
    space = SearchSpace()
    seed_recipe = RunConfig.recipe("seed").train
    search_recipe = search_train_config(len(data.train), len(data.val))
    threads = sorted({1, os.cpu_count() or 1})
    print(f"(a) seconds per architecture-epoch (an epoch of {len(data.train):,} training images and one validation "
          f"pass on {len(data.val):,}), on the same networks")
    print(f"    seed's way: per-sample DataLoader, batches of {SEED_BATCH}, its training code; timed for "
          f"{args.seed_batches} mini-batches (training and validation each) and extrapolated")
    extra = "" if args.engine_images >= len(data.train) else (
        f", extrapolated from {args.engine_images:,} training images")
    print(f"    engine    : train_group, one candidate, 1 epoch, single-threaded{extra}, its data cache filled "
          f"as in a search; 'seed recipe' is the seed's training (the same work), 'search recipe' the search's "
          f"default (augmentation {search_recipe.augment}, batches of {search_recipe.batch_size})")
    out = []
    for g in parse_networks(space, args.networks):
        arch = space.decode(g)
        seed_way = [seed_way_epoch(arch, data, args.seed_batches, t, args.seed) for t in threads]
        eng = {name: engine_epoch(arch, data, cfg, args.engine_images, args.seed)
               for name, cfg in (("seed recipe", seed_recipe), ("search recipe", search_recipe))}
        one = seed_way[0]["arch_epoch_s"]
        print(f"    {arch.name} {list(g)} ({count_params(arch, data.input_shape, data.num_classes):,} parameters)")
        for s in seed_way:
            print(f"      seed's way, {s['threads']} thread{'s' if s['threads'] > 1 else ''}: "
                  f"{s['arch_epoch_s']:8.1f} s  (training {s['train_epoch_s']:.1f} s, "
                  f"validation {s['val_pass_s']:.1f} s)")
        for name, e in eng.items():
            print(f"      engine, {name:13s}: {e['arch_epoch_s']:8.1f} s  -> {one / e['arch_epoch_s']:5.1f}x "
                  f"the seed's way's speed on 1 thread (first epoch, with preparation: {e['first_epoch_s']:.1f} s)")
        out.append({"genotype": list(g), "name": arch.name, "seed_way": seed_way, "engine": eng,
                    "speedup_vs_seed_1_thread": {k: one / e["arch_epoch_s"] for k, e in eng.items()}})
    mem = peak_memory()
    print(f"    peak memory (maxrss): {mem['self_mib']:.0f} MiB")
    return {"networks": out, "peak_memory": mem}


class TreeMemory:
    """Peak of the summed proportional set sizes of this process and its children, sampled
    every `interval` seconds (rarely, so the sampling takes next to no CPU time)."""

    def __init__(self, interval: float = 1.0):
        from bench_engine import PeakMemory

        self._probe = PeakMemory()
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._probe._tree_rss())

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_cli_search(cmd: list[str], part: str, echo: bool = False) -> tuple[float, str]:
    """Runs `cmd`, a search as a user runs it, to its end; returns its wall seconds and its
    standard error (its progress and notices), each line also written to this process's
    standard error as it comes if `echo` (for runs of hours). If it fails, prints the end of
    its standard error and exits, naming `part`."""
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as run:
        for line in run.stderr:
            lines.append(line)
            if echo:
                print(f"    | {line}", end="", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    stderr = "".join(lines)
    if run.returncode != 0:
        print(stderr[-2000:])
        raise SystemExit(f"({part}) the search failed with exit status {run.returncode}")
    return wall, stderr


def part_b(args) -> dict:
    out = Path(args.run_dir or tempfile.mkdtemp(prefix="bench-fashion-")) / "default-search"
    cmd = [sys.executable, "-m", "nas4cnn", "search", "--dataset", "fashion-mnist", "--data-dir", args.data_dir,
           "--out", str(out)]
    print(f"(b) the default search, as a user runs it: nas4cnn search --dataset fashion-mnist --data-dir "
          f"{args.data_dir} (run folder {out})")
    with TreeMemory() as mem:
        wall, stderr = run_cli_search(cmd, "b")
    notices = [line for line in stderr.splitlines() if line.startswith("nas4cnn search:")]
    for line in notices:
        print(f"    {line}")
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final"]
    print(f"    wall time {wall / 60:.1f} min (search {summary['seconds']['search'] / 60:.1f} min), peak memory "
          f"{mem.peak / 2**30:.2f} GiB over its processes")
    print(f"    winner {final['arch']} ({final['params']:,} parameters): test accuracy {1 - final['test_error']:.4f}, "
          f"NLL {final['test_nll']:.4f}; final model {final['epochs']} epochs + {final['trainval_epochs']} on train + "
          f"validation, {final['repeats']} repeat{'s' if final['repeats'] > 1 else ''}")
    print(f"    {summary['n_evaluations']} evaluations requested, {summary['n_trained']} networks trained "
          f"(on {summary['config']['search']['subset']:,} training images each), {summary['n_generations']} "
          f"generations")
    # The seed's way for the same search: every request trained on all images, per architecture-epoch.
    trained = sorted({tuple(json.loads(line)["genotype"]) for line in (out / "evaluations.jsonl").open()
                      if json.loads(line)["status"] == "ok"})
    rng = np.random.default_rng(args.seed)
    sample = [trained[i] for i in rng.choice(len(trained), min(args.seed_sample, len(trained)), replace=False)]
    data = fashion(args.data_dir)
    space = SearchSpace()
    costs = [seed_way_epoch(space.decode(g), data, args.seed_batches, 1, args.seed)["arch_epoch_s"] for g in sample]
    per_epoch = float(np.mean(costs))
    epochs = summary["config"]["train"]["epochs"]
    seed_search = per_epoch * epochs * summary["n_evaluations"]
    winner = space.decode(tuple(final["genotype"]))
    seed_final = RunConfig.recipe("seed").search.final_epochs * seed_way_epoch(
        winner, data, args.seed_batches, 1, args.seed)["arch_epoch_s"]
    print(f"    the seed's way (1 thread, {args.seed_batches} mini-batches timed per network, extrapolated): "
          f"{per_epoch:.1f} s per architecture-epoch on average over {len(sample)} of the networks trained; the "
          f"same search {seed_search / 3600:.1f} h ({summary['n_evaluations']} x {epochs} architecture-epochs), "
          f"its 40-epoch final model {seed_final / 3600:.2f} h")
    print(f"    -> {seed_search / summary['seconds']['search']:.0f}x less wall time for the search, "
          f"{(seed_search + seed_final) / wall:.0f}x for the whole run")
    return {"command": cmd, "wall_s": wall, "peak_memory_bytes": mem.peak, "notices": notices,
            "summary": {k: summary[k] for k in ("best", "n_evaluations", "n_trained", "n_generations", "seconds",
                                                  "config", "search_end")},
            "final": {k: final[k] for k in ("arch", "genotype", "params", "epochs", "trainval_epochs", "repeats",
                                            "test_error", "test_nll", "seconds")},
            "test_accuracy": 1 - final["test_error"],
            "seed_way": {"sample": [list(g) for g in sample], "arch_epoch_s": costs, "mean_arch_epoch_s": per_epoch,
                         "search_s": seed_search, "final_s": seed_final},
            "speedup": {"search": seed_search / summary["seconds"]["search"],
                        "whole_run": (seed_search + seed_final) / wall}}


def sample_genotypes(space: SearchSpace, n: int, seed: int) -> list[Genotype]:
    """`n` canonical-distinct genotypes drawn uniformly with `seed` (as bench_engine does)."""
    distinct = len({space.canonical(g) for g in space.all_genotypes()})
    if n > distinct:
        raise SystemExit(f"--sample must be at most {distinct} (the space's distinct networks); got {n}")
    rng = np.random.default_rng(seed)
    out: list[Genotype] = []
    while len(out) < n:
        g = space.canonical(space.random_genotype(rng))
        if g not in out:
            out.append(g)
    return out


def ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their mean rank."""
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(1, len(v) + 1)
    for value in np.unique(v):
        tie = v == value
        r[tie] = r[tie].mean()
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    try:
        from scipy.stats import spearmanr
    except ImportError:
        return float(np.corrcoef(ranks(a), ranks(b))[0, 1])
    return float(spearmanr(a, b).statistic)


def top_overlap(a: np.ndarray, b: np.ndarray, k: int) -> int:
    return len(set(np.argsort(a, kind="stable")[:k]) & set(np.argsort(b, kind="stable")[:k]))


def train_sample(space: SearchSpace, genotypes: list[Genotype], data: DataSet, cfg: TrainConfig, epochs: int,
                 nmax: int, lam: float, seed: int, workers: int) -> dict:
    """Objectives of `genotypes` trained on `data` in groups on `workers` processes, as the
    search's evaluator does; a failed network's objective is NaN."""
    params = [count_params(space.decode(g), data.input_shape, data.num_classes) for g in genotypes]
    cands = [Candidate(space.decode(g), init_seed(seed, g), lam * p / nmax)
             for g, p in zip(genotypes, params, strict=True)]
    groups = make_groups(cands, data.input_shape, 50_000)
    obj = np.full(len(genotypes), np.nan)
    err = np.full(len(genotypes), np.nan)
    start = time.perf_counter()
    with LocalExecutor(data, TrainJob(cfg, epochs, seed), "cpu", workers) as ex:
        for k, res in ex.run([[cands[i] for i in idx] for idx in groups],
                             costs=[sum(params[i] for i in idx) for idx in groups]):
            for j, i in enumerate(groups[k]):
                err[i] = res.val_error[j]
                obj[i] = objective(res.val_error[j], params[i], nmax, lam)
    return {"objective": obj, "val_error": err, "seconds": time.perf_counter() - start, "groups": len(groups),
            "workers": ex.workers}


def part_c(args) -> dict:
    data = fashion(args.data_dir)
    space = SearchSpace()
    genotypes = sample_genotypes(space, args.sample, args.seed)
    nmax = max_params(space, data.input_shape, data.num_classes)
    lam = RunConfig().search.lam
    n_val = min(args.val_images, len(data.val))
    full = min(args.full_train, len(data.train))
    ref_epochs = args.reference_epochs or args.epochs
    k = min(10, len(genotypes))
    trivial = " (the whole sample: trivially full)" if k == len(genotypes) else ""
    print(f"(c) fidelity: {len(genotypes)} distinct genotypes (seed {args.seed}) trained with the search's recipe; "
          f"objective = val error + {lam} * params / {nmax:,}; validation on {n_val:,} of {len(data.val):,} images; "
          f"{args.workers} workers")

    def run(n_train: int, epochs: int, seed: int, val: int | None = None) -> dict:
        cfg = search_train_config(len(data.train), len(data.val))  # as the search on this data set trains
        r = train_sample(space, genotypes, search_subset(data, n_train, val or n_val, args.seed), cfg, epochs, nmax,
                         lam, seed, args.workers)
        r.update(train_images=n_train, epochs=epochs, batch_size=cfg.batch_size)
        return r

    def clean(v: np.ndarray) -> np.ndarray:  # a failed network ranks last
        return np.where(np.isfinite(v), v, np.nanmax(np.where(np.isfinite(v), v, np.nan), initial=0.0) + 1.0)

    def as_json(r: dict) -> dict:
        return {**r, "objective": [None if not np.isfinite(v) else float(v) for v in r["objective"]],
                "val_error": [None if not np.isfinite(v) else float(v) for v in r["val_error"]],
                "failed": int((~np.isfinite(r["objective"])).sum())}

    ref = run(full, ref_epochs, args.seed, val=len(data.val))  # the full-data score: every validation image
    what = "all" if full == len(data.train) else f"a stratified {full:,} of {len(data.train):,}"
    print(f"    reference: {what} training images, {epochs_text(ref_epochs)}, batches of {ref['batch_size']}: "
          f"{ref['seconds']:.1f} s ({ref['groups']} groups), mean val error {np.nanmean(ref['val_error']):.4f}, "
          f"best {space.name(genotypes[int(np.nanargmin(ref['objective']))])}")
    rows = []
    if args.repeat_reference:
        again = run(full, ref_epochs, args.seed + 1)
        rho = spearman(clean(ref["objective"]), clean(again["objective"]))
        hits = top_overlap(clean(ref["objective"]), clean(again["objective"]), k)
        print(f"    reference again, run seed {args.seed + 1} (the noise floor): Spearman {rho:.3f}, "
              f"top-{k} overlap {hits}/{k}")
        rows.append({"subset": "reference, another run seed", "spearman": rho, "top_overlap": hits / k,
                     **as_json(again)})
    for n in args.subsets:
        if n >= full:
            print(f"    subset {n:,}: not below the reference's {full:,} images; skipped")
            continue
        r = run(n, args.epochs, args.seed)
        rho = spearman(clean(r["objective"]), clean(ref["objective"]))
        hits = top_overlap(clean(r["objective"]), clean(ref["objective"]), k)
        print(f"    subset {n:7,}: {epochs_text(args.epochs)}, batches of {r['batch_size']}: Spearman {rho:6.3f}, "
              f"top-{k} overlap {hits}/{k}{trivial}, {r['seconds']:7.1f} s "
              f"({r['seconds'] / ref['seconds']:.2f} of the reference's), "
              f"mean val error {np.nanmean(r['val_error']):.4f}")
        rows.append({"subset": n, "spearman": rho, "top_overlap": hits / k, **as_json(r)})
    mem = peak_memory()
    print(f"    peak memory (maxrss): {mem['self_mib']:.0f} MiB this process, {mem['children_mib']:.0f} MiB "
          f"the largest worker")
    return {"genotypes": [list(g) for g in genotypes], "names": [space.name(g) for g in genotypes], "top_k": k,
            "val_images": n_val, "reference": as_json(ref), "subsets": rows, "peak_memory": mem}


def sgemm_rate(n: int, threads: int) -> float:
    """GFLOP/s of torch.mm on n x n float32 matrices (2 n^3 operations), best of 3."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)
        return 2 * n**3 / best_time(lambda: torch.mm(a, b, out=c), 3) / 1e9
    finally:
        torch.set_num_threads(before)


def step_flops(arch: Architecture, input_shape, num_classes: int, batch: int) -> int:
    """Floating-point operations of one training step's matrix products, counting a
    multiply-add as 2; element-wise work (activations, pooling, softmax, the optimiser) is not
    counted. With B images, C channels, a k x k kernel, F filters, Q = kk*S convolution
    positions (kk the pooling window, S the pooled positions), L Linear-1 units, NC classes:

        conv (forward + weight gradient; its input needs no gradient): 2 * 2*B*Q*(C*k*k + 1)*F
        Linear 1 (forward, weight gradient, input gradient):           3 * 2*B*(S*F)*L
        Linear 2 (forward, weight gradient, input gradient):           3 * 2*B*L*NC

    The "+ 1" is the bias column of the engine's patches; Linear biases' adds are left out."""
    C, H, W = input_shape
    h, w = feature_hw(arch, H, W)
    S = h * w
    kk = arch.pooling.size**2
    F_, k, L = arch.filters, arch.conv.kernel, arch.linear
    return 4 * batch * kk * S * (C * k * k + 1) * F_ + 6 * batch * S * F_ * L + 6 * batch * L * num_classes


def _category(op: str, shapes: list, sf: int) -> str:
    if op == "aten::mm":
        return "conv products"
    if op in ("aten::bmm", "aten::baddbmm"):
        return "Linear-1 products" if any(sf in s for s in shapes if s) else "Linear-2 products"
    return "pooling, activations, loss (element-wise)"


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """The profiler's C library logs its start and stop on file descriptor 2: silenced."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def step_profile(group: StackedGroup, cols: torch.Tensor, onehot: torch.Tensor, reps: int) -> dict[str, float]:
    """Shares of `StackedGroup.train_step`'s operator time by kind, from torch.profiler."""
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(reps):
            group.train_step(cols, onehot)
    totals: dict[str, float] = defaultdict(float)
    for e in prof.key_averages(group_by_input_shape=True):
        totals[_category(e.key, e.input_shapes, group.S * group.F)] += e.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in sorted(totals.items())}


def step_figures(arch: Architecture, data: DataSet, batch: int, steps: int, seed: int) -> dict:
    """Milliseconds per step of each part of the engine's training on one candidate (see part_d)."""
    cfg = replace(search_train_config(len(data.train), len(data.val)), batch_size=batch)
    ready = Prepared.from_data(data, cfg)
    d = ready.data
    shape, nc = d.input_shape, d.num_classes
    group = StackedGroup([arch], [build_model(arch, shape, nc, seed=seed)], shape, nc, d.train.x.device)
    onehot = torch.nn.functional.one_hot(d.train.y, nc).float()
    batches = []
    start = time.perf_counter()
    for i, (idx, xb) in enumerate(ready.batches(batch, seed, 0)):  # augmented: resampled images
        if i == steps:
            break
        batches.append((idx, xb))
    t_augment = (time.perf_counter() - start) / len(batches)
    start = time.perf_counter()
    cols = [group.patches(d.train.x[idx] if xb is None else xb, lazy=False).batch() for idx, xb in batches]
    t_unfold = (time.perf_counter() - start) / len(batches)
    flops = step_flops(arch, shape, nc, batch)
    out = {"batch_size": batch, "steps_timed": len(batches), "step_gflop": flops / 1e9,
           "augment_ms": 1e3 * t_augment, "unfold_ms": 1e3 * t_unfold}

    def timed(do: Callable[[int], object]) -> float:
        do(0)  # warm-up
        start = time.perf_counter()
        for i in range(len(batches)):
            do(i)
        return (time.perf_counter() - start) / len(batches)

    alive = torch.ones(1, dtype=torch.bool)
    if fused.available():
        fs = FusedSteps(group, make_group_optimizer([group.flat], cfg), cfg, alive.clone())
        fs.start_epoch()
        t = timed(lambda i: fs.step(None, batches[i][0], cols[i], d.train.y))
        out.update(fused_ms=1e3 * t, fused_gflops=flops / t / 1e9)
    opt = make_group_optimizer([group.flat], cfg)
    ts = TorchSteps(group, opt, onehot, alive.clone())
    ts.start_epoch()
    t_torch = timed(lambda i: ts.step(None, batches[i][0], cols[i], d.train.y))
    t_fwd_bwd = timed(lambda i: group.train_step(cols[i], onehot.index_select(0, batches[i][0])))
    t_opt = timed(lambda i: opt.step())
    shares = step_profile(group, cols[0], onehot.index_select(0, batches[0][0]), min(len(batches), 10))
    rest = max(0.0, t_torch - t_fwd_bwd - t_opt)  # timed apart, so noise can make it negative
    parts = {**{k: 1e3 * t_fwd_bwd * s for k, s in shares.items()}, "optimiser": 1e3 * t_opt,
             "bookkeeping (losses, predictions, checks)": 1e3 * rest}
    out.update(torch_ms=1e3 * t_torch, torch_gflops=flops / t_torch / 1e9, torch_parts_ms=parts)
    return out


def validation_figures(arch: Architecture, data: DataSet, val_images: int, seed: int) -> dict:
    """Seconds of `StackedGroup.measure` on `val_images` validation images for one candidate
    (patches as the engine makes them: unfolded once, or per chunk where they would not fit),
    after a warm-up on one chunk."""
    d = Prepared.from_data(data, search_train_config(len(data.train), len(data.val))).data
    shape, nc = d.input_shape, d.num_classes
    group = StackedGroup([arch], [build_model(arch, shape, nc, seed=seed)], shape, nc, d.train.x.device)
    val = subset_split(d.val, val_images, seed)
    group.measure(group.patches(val.x[:1024]), val.y[:1024])
    start = time.perf_counter()
    patches = group.patches(val.x)
    group.measure(patches, val.y)
    elapsed = time.perf_counter() - start
    return {"val_images": len(val), "val_s": elapsed, "val_ms_per_1000": 1e6 * elapsed / len(val),
            "val_patches_lazy": isinstance(patches, LazyPatches)}


def part_d(args) -> dict:
    data = fashion(args.data_dir)
    space = SearchSpace()
    cores = os.cpu_count() or 1
    n = args.mm_size
    rate1 = sgemm_rate(n, 1)
    rate_all = sgemm_rate(n, cores)
    print(f"(d) sgemm (torch.mm, {n} x {n} float32, best of 3): {rate1:.1f} GFLOP/s on 1 thread, "
          f"{rate_all:.1f} GFLOP/s on {cores} threads")
    step = "fused C step" if fused.available() else "fused step unavailable; PyTorch operations (TorchSteps)"
    print(f"    training steps, single-threaded, one candidate, the search's recipe ({step}); GFLOP counts the "
          f"matrix products (see step_flops); ms per step, timed over {args.steps} mini-batches")
    out = []
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for g in parse_networks(space, args.networks):
            arch = space.decode(g)
            val = validation_figures(arch, data, args.val_images, args.seed)
            lazy = ", patches unfolded per chunk" if val["val_patches_lazy"] else ""
            print(f"    {arch.name} {list(g)}: validation {val['val_ms_per_1000']:.0f} ms per 1,000 images "
                  f"({val['val_images']:,} measured{lazy})")
            for b in args.batch_sizes:
                r = step_figures(arch, data, b, args.steps, args.seed)
                line = f"      batch {b:4d}: {r['step_gflop']:.3f} GFLOP/step;"
                if "fused_ms" in r:
                    line += (f" fused {r['fused_ms']:7.2f} ms = {r['fused_gflops']:5.1f} GFLOP/s "
                             f"({100 * r['fused_gflops'] / rate1:4.1f}% of sgemm);")
                line += (f" PyTorch {r['torch_ms']:7.2f} ms = {r['torch_gflops']:5.1f} GFLOP/s "
                         f"({100 * r['torch_gflops'] / rate1:4.1f}%)")
                print(line)
                step_ms = r.get("fused_ms", r["torch_ms"])
                per_step = r["augment_ms"] + r["unfold_ms"] + step_ms
                epoch_s = math.ceil(len(data.train) / b) * per_step / 1e3 + val["val_ms_per_1000"] * len(data.val) / 1e6
                print(f"        per step: augmentation {r['augment_ms']:.2f} ms, "
                      f"patch unfolding {r['unfold_ms']:.2f} ms, step {step_ms:.2f} ms; so an epoch of "
                      f"{len(data.train):,} images and a validation pass on {len(data.val):,}: about {epoch_s:.1f} s")
                parts = ", ".join(f"{k} {v:.2f}" for k, v in r["torch_parts_ms"].items())
                print(f"        PyTorch step (ms; products and element-wise split by torch.profiler): {parts}")
                r.update(genotype=list(g), name=arch.name, validation=val, estimated_arch_epoch_s=epoch_s,
                         pct_of_sgemm_fused=100 * r.get("fused_gflops", math.nan) / rate1,
                         pct_of_sgemm_torch=100 * r["torch_gflops"] / rate1)
                out.append(r)
    finally:
        torch.set_num_threads(before)
    mem = peak_memory()
    print(f"    peak memory (maxrss): {mem['self_mib']:.0f} MiB")
    return {"sgemm_gflops_1_thread": rate1, f"sgemm_gflops_{cores}_threads": rate_all, "mm_size": n, "steps": out,
            "peak_memory": mem}


# The parts, run in key order; part (b), the whole default search, is added as `part_b(args) -> dict`.
PARTS: dict[str, Callable[[argparse.Namespace], dict]] = {"a": part_a, "b": part_b, "c": part_c, "d": part_d}


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1; got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=DEFAULT_DIR, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--parts", default=",".join(sorted(PARTS)), help=f"parts to run, of {','.join(sorted(PARTS))}")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--networks", nargs="+", default=list(DEFAULT_NETWORKS), metavar="NET",
                   help="(a), (d): genotypes ('2,1,0,2,9') or names")
    p.add_argument("--seed-batches", type=int, default=20, help="(a): mini-batches of the seed's way timed")
    p.add_argument("--engine-images", type=int, default=FULL_TRAIN, help="(a): training images of the engine's epoch")
    p.add_argument("--run-dir", help="(b): where the default search's run folder goes (default: a temporary one)")
    p.add_argument("--seed-sample", type=int, default=6,
                   help="(b): networks the search trained on which the seed's way is timed")
    p.add_argument("--sample", type=int, default=24, help="(c): distinct genotypes")
    p.add_argument("--subsets", type=int_list, default=[1000, 2000, 5000, 10000], help="(c): subset sizes")
    p.add_argument("--epochs", type=int, default=RunConfig().train.epochs, help="(c): epochs on a subset")
    p.add_argument("--reference-epochs", type=int, default=0, help="(c): epochs of the reference (default --epochs)")
    p.add_argument("--full-train", type=int, default=FULL_TRAIN, help="(c): training images of the reference")
    p.add_argument("--repeat-reference", action="store_true",
                   help="(c): train the reference again with another run seed: the agreement's noise floor")
    p.add_argument("--val-images", type=int, default=2000,
                   help="(c): validation images of the subsets (the reference uses all); (d): of the validation pass")
    p.add_argument("--workers", type=int, default=2, help="(c): worker processes")
    p.add_argument("--mm-size", type=int, default=2048, help="(d): side of the square matrices")
    p.add_argument("--batch-sizes", type=int_list, default=[64, 256], help="(d)")
    p.add_argument("--steps", type=int, default=30, help="(d): mini-batches timed per network and batch size")
    args = p.parse_args(argv)
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    unknown = [s for s in parts if s not in PARTS]
    if unknown or not parts:
        p.error(f"--parts must name some of {sorted(PARTS)}; got {args.parts!r}")
    for name in ("seed_batches", "seed_sample", "engine_images", "sample", "epochs", "full_train", "val_images", "workers",
                 "mm_size", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be an integer >= 1; got {getattr(args, name)}")

    folder = Path(args.data_dir)
    if missing_files(folder):
        print(f"skipped: Fashion-MNIST not found in {folder} (apt-get install dataset-fashion-mnist)")
        return 0
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), Python {info['python']}, "
          f"torch {info['torch']}, fused step {'available' if info['fused_step'] else 'unavailable'}")
    results = {"machine": info, "options": vars(args), "parts": {}}
    for name in sorted(parts):
        start = time.perf_counter()
        results["parts"][name] = PARTS[name](args)
        results["parts"][name]["seconds"] = time.perf_counter() - start
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
