"""Print a Markdown table of finished runs (one row each, then mean and std over the runs).

For runs whose final model was trained with several seeds (`--repeats K`), the test figures
are the mean over those seeds (± their std), and the last row averages those means.

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
        s = dict(load_run(p).summary)
        if (s.get("repeats") or 1) > 1:
            figures = {k: f"{s[k + '_mean']:.4f} ± {s[k + '_std']:.4f}" for k in ("test_error", "test_nll")}
            s["test_error"], s["test_nll"] = s["test_error_mean"], s["test_nll_mean"]
        else:
            figures = {k: f"{s[k]:.4f}" for k in ("test_error", "test_nll")}
        rows.append(s)
        print(
            f"| {p} | {s['config']['search']['seed']} | {s['best']['arch']} | {s['best']['params']:,} | "
            f"{s['best']['objective']:.4f} | {figures['test_error']} | {figures['test_nll']} | "
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
