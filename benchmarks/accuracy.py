"""The README's accuracy table: the seed's published figures against this tool with the
seed's recipe and with its default recipe, on the seed's split, final models trained with
several seeds. Runs the same API calls as the commands printed beside each row.

    python benchmarks/accuracy.py [--repeats 5] [--out runs/accuracy]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nas4cnn
from nas4cnn.core.config import RunConfig
from nas4cnn.final.baselines import PUBLISHED

SEED_BEST = "2,0,0,1,6"  # the seed's published best architecture


def fmt(m: dict) -> str:
    return (f"{m['test_error_mean']:.4f} ± {m['test_error_std']:.4f} | "
            f"{m['test_nll_mean']:.4f} ± {m['test_nll_std']:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="runs/accuracy")
    args = ap.parse_args()
    out, k = Path(args.out), args.repeats
    rows = []
    for recipe in ("seed", "default"):
        config = RunConfig.recipe(recipe).override("search", final_repeats=k)
        flag = " --recipe seed" if recipe == "seed" else ""
        start = time.perf_counter()
        run = nas4cnn.searching.loop(config, out=out / f"search-{recipe}")
        f = run.summary["final"]
        rows.append((f"search ({recipe} recipe) → {f['arch']}",
                     f"`nas4cnn search{flag} --repeats {k}`", fmt(f), f"{time.perf_counter() - start:.0f}"))
        start = time.perf_counter()
        m = nas4cnn.nn.train(SEED_BEST, config).metrics()
        rows.append((f"seed's best {m['arch']} ({recipe} recipe)", f"`nas4cnn train --genotype {SEED_BEST}{flag} "
                     f"--repeats {k}`", fmt(m), f"{time.perf_counter() - start:.0f}"))
        start = time.perf_counter()
        base = nas4cnn.baseline(run=out / f"search-{recipe}", repeats=k)
        took = f"{time.perf_counter() - start:.0f} (both)"
        for r in base[:2]:
            rows.append((f"{r['label']} ({recipe} recipe)", f"`nas4cnn baseline --run RUN --repeats {k}`",
                         fmt(r), took))
    print("| model | command | test error | test NLL | seconds |")
    print("|---|---|---|---|---|")
    for key, label in (("searched", "seed's best conv32k3-relu-maxpool2-fc70"), ("human-cnn", "human-cnn"),
                       ("feed-forward", "feed-forward")):
        e, n = PUBLISHED[key]
        print(f"| {label} (seed, published) | — | {e:.4f} | {n:.3f} | — |")
    for label, cmd, figures, secs in rows:
        print(f"| {label} | {cmd} | {figures} | {secs} |")
    (out / "accuracy.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
