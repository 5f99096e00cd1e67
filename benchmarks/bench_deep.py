"""Deep-space training on this CPU: is a population faster as one wide network?

The seed's space trains whole populations as one stacked network (`nn/stacked.py`), many
times faster than one network at a time, because its networks are small and their steps are
dominated by fixed costs. This measures whether the same holds for the `compact` space's
deeper networks:

(a) one training step (batch 128, 28×28 grey images or --size, NLL and Adamax, one thread) of P
    copies of a network (different initialisations: the best case for batching, nothing
    padded), trained one after another with the plain loop's PyTorch modules, against the
    same P networks as one wide network: the first convolution with all P·F filters side by
    side on the shared input, later convolutions grouped per network (groups=P), batch norm
    per channel, the linear layers as batched products (bmm). Matrix-product rate of the
    separate steps beside this machine's sgemm.
(b) with Fashion-MNIST present (`apt-get install dataset-fashion-mnist`; skipped in one
    line otherwise): one random generation of the compact space, trained for one epoch on
    2,000 images through the search's evaluator on every core, in images per second.
(c) with Fashion-MNIST present: the issue's target run, as a user runs it, in a subprocess:
    `nas4cnn search --dataset fashion-mnist --data-dir DIR --space compact --budget 2h
    --repeats 3` (nothing else set); its wall time, the winner's parameters and its test
    accuracy, mean over the 3 final seeds, each against its target (< 100,000 parameters,
    >= 0.94, within the budget). Hours: not in the default parts.

Usage: python benchmarks/bench_deep.py [--parts a,b,c] [--networks N ...] [--copies 4,8] [--size 28]
                                       [--budget 2h] [--final-repeats 3] [--run-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import cpu_name  # noqa: E402
from bench_fashion import DEFAULT_DIR, fashion, missing_files, run_cli_search, sgemm_rate  # noqa: E402

from nas4cnn.core.checks import parse_duration  # noqa: E402
from nas4cnn.core.deep_params import count_macs  # noqa: E402
from nas4cnn.core.deep_space import DeepArchitecture  # noqa: E402
from nas4cnn.core.spaces import COMPACT  # noqa: E402
from nas4cnn.nn.activations import get_activation  # noqa: E402
from nas4cnn.nn.model import build_model  # noqa: E402

SHAPE = (1, 28, 28)
BATCH = 128
NETWORKS = ("conv32k3-relu-bn-maxpool2+conv64k3-relu-bn-maxpool2+conv64k3-relu-bn+gap",
            "conv16k3-relu-bn-maxpool2+sep48k5-elu-bn-maxpool2+gap-fc64",
            "conv16k3-relu-maxpool2+conv32k3-relu-maxpool2+gap")


class Wide(nn.Module):
    """`copies` networks of one architecture as one wide network (see the module docstring)."""

    def __init__(self, arch: DeepArchitecture, copies: int, classes: int = 10, channels: int = 1):
        super().__init__()
        P, c = copies, channels
        layers: list[nn.Module] = []
        for i, b in enumerate(arch.blocks):
            cin, groups = (c, 1) if i == 0 else (P * c, P)
            if b.separable:
                layers += [nn.Conv2d(cin, cin, b.kernel, b.stride, b.padding, groups=cin, bias=False),
                           nn.Conv2d(cin, P * b.filters, 1, groups=groups, bias=not b.batchnorm)]
            else:
                layers.append(nn.Conv2d(cin, P * b.filters, b.kernel, b.stride, b.padding, groups=groups,
                                        bias=not b.batchnorm))
            if b.batchnorm:
                layers.append(nn.BatchNorm2d(P * b.filters))
            layers.append(get_activation(b.activation).layer())
            if not b.pool.is_identity:
                layers.append(nn.MaxPool2d(b.pool.size) if b.pool.kind == "max" else nn.AvgPool2d(b.pool.size))
            c = b.filters
        self.body = nn.Sequential(*layers).to(memory_format=torch.channels_last)
        self.P, self.c, self.act = P, c, get_activation(arch.activation).layer()
        sizes = [c, *arch.hidden, classes]
        self.w = nn.ParameterList([nn.Parameter(torch.randn(P, i, o) / i**0.5) for i, o in zip(sizes, sizes[1:])])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(P, 1, o)) for o in sizes[1:]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # -> P x B x classes log-probabilities
        h = self.body(x.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))
        h = h.view(len(x), self.P, self.c).transpose(0, 1)
        for k, (w, b) in enumerate(zip(self.w, self.b)):
            h = torch.baddbmm(b, h, w)
            if k < len(self.w) - 1:
                h = self.act(h)
        return torch.log_softmax(h, dim=2)


def best_ms(step, repeats: int) -> float:
    step()
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def part_a(args) -> None:
    torch.set_num_threads(1)
    rate = sgemm_rate(2048, 1)
    shape = (1, args.size, args.size)
    print(f"(a) one training step, batch {BATCH}, {args.size}x{args.size}, one thread; sgemm {rate:.1f} GFLOP/s")
    x = torch.randn(BATCH, *shape)
    y = torch.randint(0, 10, (BATCH,))
    for name in args.networks:
        arch = COMPACT.decode(COMPACT.parse(name))
        if arch.head != "gap":
            print(f"    {name}: skipped (the wide network here takes a gap head)")
            continue
        flop = 2 * 3 * count_macs(arch, shape, 10) * BATCH  # forward and two backward products
        for P in args.copies:
            nets = [build_model(arch, shape, 10, seed=s) for s in range(P)]
            opts = [torch.optim.Adamax(m.parameters(), lr=1e-2) for m in nets]

            def separate() -> None:
                for m, o in zip(nets, opts):
                    o.zero_grad(set_to_none=True)
                    F.nll_loss(m(x), y, reduction="sum").backward()
                    o.step()

            wide = Wide(arch, P)
            wopt = torch.optim.Adamax(wide.parameters(), lr=1e-2)
            targets = y.repeat(P)

            def together() -> None:
                wopt.zero_grad(set_to_none=True)
                F.nll_loss(wide(x).reshape(P * BATCH, 10), targets, reduction="sum").backward()
                wopt.step()

            a, b = best_ms(separate, args.repeats), best_ms(together, args.repeats)
            print(f"    {name}, P={P}: separate {a:7.1f} ms ({P * flop / a / 1e6:5.1f} GFLOP/s, "
                  f"{100 * P * flop / a / 1e6 / rate:4.1f}% of sgemm); one wide network {b:7.1f} ms: "
                  f"batching {a / b:.2f}x")


def skipped_without_data(folder: Path, part: str) -> bool:
    """Whether `folder` lacks the Fashion-MNIST files, saying so in one line naming `part`."""
    missing = bool(missing_files(folder))
    if missing:
        print(f"({part}) skipped: Fashion-MNIST not found in {folder} (apt-get install dataset-fashion-mnist)")
    return missing


def part_b(args) -> None:
    folder = Path(args.data_dir)
    if skipped_without_data(folder, "b"):
        return
    from nas4cnn.core.config import RunConfig
    from nas4cnn.data.subset import search_subset
    from nas4cnn.searching.engine_evaluator import EngineEvaluator

    data = search_subset(fashion(str(folder)), 2000, 2000, 0)
    cfg = RunConfig().train.__class__(epochs=1, batch_size=BATCH, augment="off")
    rng = np.random.default_rng(args.seed)
    genotypes = [COMPACT.random_genotype(rng) for _ in range(20)]
    with EngineEvaluator(COMPACT, data, cfg, 0.01, args.seed, workers=args.workers) as ev:
        start = time.perf_counter()
        results = ev.evaluate(genotypes)
        seconds = time.perf_counter() - start
    trained = sum(1 for r in results if r.trained and not r.cached)
    print(f"(b) a random generation of compact (seed {args.seed}): {trained} of 20 trained (the rest do not fit or "
          f"exceed 100,000 parameters), 1 epoch on 2,000 images each, {args.workers} workers: {seconds:.1f} s, "
          f"{trained * 2000 / seconds:,.0f} images/s")


TARGET_PARAMS = 100_000
TARGET_ACCURACY = 0.94


def part_c(args) -> None:
    folder = Path(args.data_dir)
    if skipped_without_data(folder, "c"):
        return
    budget = parse_duration(args.budget)
    out = Path(args.run_dir or tempfile.mkdtemp(prefix="bench-deep-")) / "compact-search"
    cmd = [sys.executable, "-m", "nas4cnn", "search", "--dataset", "fashion-mnist", "--data-dir", str(folder),
           "--space", "compact", "--budget", args.budget, "--repeats", str(args.final_repeats),
           "--out", str(out)]
    print(f"(c) {' '.join(['nas4cnn', *cmd[3:]])}", flush=True)
    wall, _ = run_cli_search(cmd, "c", echo=True)
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final"]
    accuracy = 1 - final["test_error_mean"]  # over the seeds ("test_error" is the first seed's)
    seconds = summary["seconds"]
    print(f"    wall time {wall / 60:.1f} min (search {seconds['search'] / 60:.1f} min, final model "
          f"{seconds['final'] / 60:.1f} min), {summary['n_trained']} networks trained, {summary['n_generations']} "
          f"generations")
    print(f"    winner {final['arch']}: {final['params']:,} parameters, test accuracy {accuracy:.4f} (mean over "
          f"{final['repeats']} final seeds), final model {final['epochs']} epochs + {final['trainval_epochs']} on "
          f"train + validation")
    for what, met in ((f"fewer than {TARGET_PARAMS:,} parameters", final["params"] < TARGET_PARAMS),
                      (f"test accuracy >= {TARGET_ACCURACY}", accuracy >= TARGET_ACCURACY),
                      (f"within {args.budget}", wall <= budget)):
        print(f"    target {what}: {'met' if met else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="a,b")
    p.add_argument("--networks", nargs="+", default=list(NETWORKS))
    p.add_argument("--copies", type=lambda t: [int(v) for v in t.split(",")], default=[4, 8])
    p.add_argument("--repeats", type=int, default=5, help="(a): timed steps, the best kept")
    p.add_argument("--size", type=int, default=28, help="(a): image side (28: Fashion-MNIST, 8: the digits)")
    p.add_argument("--data-dir", default=DEFAULT_DIR)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget", default="2h", help="(c): the run's --budget")
    p.add_argument("--final-repeats", type=int, default=3, help="(c): final seeds")
    p.add_argument("--run-dir", help="(c): where the run's folder goes (default: a new temporary folder)")
    args = p.parse_args(argv)
    print(f"machine: {cpu_name()}, torch {torch.__version__}")
    parts = [s.strip() for s in args.parts.split(",")]
    if "a" in parts:
        part_a(args)
    if "b" in parts:
        part_b(args)
    if "c" in parts:
        part_c(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
