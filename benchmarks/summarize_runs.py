"""Print a Markdown table of finished runs (one row each, then mean and std).

    python benchmarks/summarize_runs.py runs/seed0 runs/seed1 ...
"""

from __future__ import annotations

import statistics
import sys

from nas4cnn import load_run


def main(paths: list[str]) -> None:
    rows = []
    print("| run | seed | best architecture | params | objective | test error | test NLL "
          "| trained / requested | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        s = load_run(p).summary
        rows.append(s)
        print(
            f"| {p} | {s['config']['search']['seed']} | {s['best']['arch']} | {s['best']['params']:,} | "
            f"{s['best']['objective']:.4f} | {s['test_error']:.4f} | {s['test_nll']:.4f} | "
            f"{s['n_trained']} / {s['n_evaluations']} | {s['seconds']['total']:.1f} |"
        )
    if len(rows) > 1:
        def ms(key):
            vals = [r[key] for r in rows]
            return f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}"

        obj = [r["best"]["objective"] for r in rows]
        print(f"| mean ± std | | | | {statistics.mean(obj):.4f} ± {statistics.stdev(obj):.4f} | "
              f"{ms('test_error')} | {ms('test_nll')} | | |")


if __name__ == "__main__":
    main(sys.argv[1:])
