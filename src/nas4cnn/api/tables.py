"""Tabular benchmarks: train every network of a space once (`tabulate`), and replay search
strategies against such a table (`compare`) through the search loop, in seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from nas4cnn.api.preparation import prepare
from nas4cnn.core import rundir
from nas4cnn.core.config import RunConfig, check_early_stop
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.data.dataset import DataSet
from nas4cnn.strategies.grid import GRID_LIMIT


def tabulate(
    config: RunConfig | None = None,
    *,
    seeds: int = 3,
    out: str | Path | None = None,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = False,
    sample: int | None = None,
):
    """Train every distinct network of the space for `config.train.epochs`, for seeds
    `config.search.seed` ... + seeds - 1, and return (and save to `out`) the table. With
    `sample`, that many networks drawn at random with the run seed instead (the only way to
    tabulate a space of more than GRID_LIMIT networks)."""
    from nas4cnn.tables.tabulate import tabulate as run_tabulate

    config, data = prepare(config, data)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1; got {seeds!r}")
    if out is not None:
        out = rundir.check_output_file(out, "--out")
    n = config.space.n_networks
    if sample is None and n > GRID_LIMIT:
        raise ConfigError(f"tabulate trains every network of the space once, and this space has {n:,} (at most "
                          f"{GRID_LIMIT:,}); tabulate a sample of it (--sample N) or a smaller space (--space FILE)")
    networks = None
    if sample is not None:  # drawn (and checked) before any training
        from nas4cnn.tables.tabulate import sample_networks

        networks = sample_networks(config.space, sample, config.search.seed, data.input_shape, data.num_classes)
    bar = tqdm(total=(sample or n) * seeds, desc="tabulate", unit="net", disable=not progress)
    try:
        table = run_tabulate(config, data, list(range(config.search.seed, config.search.seed + seeds)),
                             device, workers, on_progress=bar.update, networks=networks)
    finally:
        bar.close()
    if out is not None:
        table.save(out)
    return table


DEFAULT_COMPARE = ("evolution", "regularized-evolution", "random", "local-search", "best-first", "hyperband",
                   "optuna-tpe")


def compare(
    strategies: Sequence[str] = DEFAULT_COMPARE,
    *,
    table: str | Path | None = None,
    repeats: int = 100,
    budget: int | None = None,
    population: int = 20,
    lam: float | None = None,
    early_stop: float | None = None,
    out: str | Path | None = None,
    progress: bool = False,
) -> list[dict]:
    """Replay each strategy `repeats` times against a tabular benchmark (default: the shipped
    digits table) and summarise how much compute it needed to find the space's optimum.
    'evolution-nocache' is the seed's evolution re-training every repeated genotype; 'NAME@P'
    runs NAME with population (batch size) P instead of `population`. `early_stop` replays
    the searches with early stopping at that quantile (see `early_stop`). With `out`, writes
    compare.md and compare.png there."""
    from nas4cnn.strategies import STRATEGIES
    from nas4cnn.tables.compare import regret_curve, summarize
    from nas4cnn.tables.tabulate import Table

    t = Table.load(table)
    if out is not None:
        out = rundir.check_writable(out, "--out", folder=True)
    lam = t.config.search.lam if lam is None else lam
    budget = t.epochs * len(t.genotypes) if budget is None else budget
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise ConfigError(f"--lambda must be a finite number >= 0; got {lam!r}")
    for name, value, low in (("--repeats", repeats, 1), ("--budget", budget, 1), ("--population", population, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}; got {value!r}")
    if early_stop is not None:
        check_early_stop(early_stop)
    names = [strategies] if isinstance(strategies, str) else list(strategies)
    if not names:
        raise ConfigError("--strategies: expected at least one strategy name")
    specs = {}
    for name in names:
        base, _, pop = name.partition("@")
        if base.removesuffix("-nocache") not in STRATEGIES:
            raise ConfigError(f"--strategies: unknown strategy {name!r}; expected some of {sorted(STRATEGIES)} "
                              "(add -nocache to one to re-train repeats, @P to give it population P)")
        if pop and (not (pop.isascii() and pop.isdigit()) or int(pop) < 2):
            raise ConfigError(f"--strategies: {name!r}: the population after @ must be an integer >= 2")
        specs[name] = (base.removesuffix("-nocache"), int(pop) if pop else population, not base.endswith("-nocache"))
    mean_obj = t.objective(lam).mean(0)
    best = int(mean_obj.argmin())
    optimum = {"optimum": t.space.name(t.genotypes[best]), "optimum_objective": float(mean_obj[best]),
               "table_seeds": len(t.seeds), "table_networks": len(t.genotypes), "space_networks": t.space_networks}
    rows, curves = [], {}
    jobs = [(str(table) if table else None, specs[name][0], r, lam, budget, specs[name][1], specs[name][2],
             early_stop) for name in names for r in range(repeats)]
    # The workers are forked before the progress bar starts its monitor thread, and let go by
    # closing the pool (a worker killed by `terminate` could leave the others, or this
    # process, waiting on a lock it held).
    with _replay_pool() as pool:
        bar = tqdm(total=len(names) * repeats, desc="compare", unit="run", disable=not progress)
        try:
            done = []
            for result in pool.imap(_replay_job, jobs, chunksize=4):
                done.append(result)
                bar.update()
        finally:
            bar.close()
        pool.close()
        pool.join()
    for k, name in enumerate(names):
        replays = done[k * repeats : (k + 1) * repeats]
        row = summarize(replays, budget)
        row.update(strategy=name, **optimum)
        rows.append(row)
        curves[name] = replays
    if out is not None:
        import numpy as np

        from nas4cnn.outputs.plots import plot_regret

        grid = np.unique(np.geomspace(1, budget, 200).astype(int))
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunDirError(f"--out: cannot make the folder {str(out)!r}: {e.strerror or e}") from None
        plot_regret({n: regret_curve(c, grid) for n, c in curves.items()}, grid, out / "compare.png")
        with rundir.atomic_path(out / "compare.md", "--out") as tmp:
            tmp.write_text(compare_markdown(rows) + "\n", encoding="utf-8")
    return rows


_TABLES: dict = {}


def _replay_job(job):
    from nas4cnn.tables.compare import replay
    from nas4cnn.tables.tabulate import Table

    path, name, repeat, lam, budget, population, cache, stop = job
    if path not in _TABLES:
        _TABLES[path] = Table.load(path)
    return replay(_TABLES[path], name, repeat, lam, budget, population, cache=cache, stop=stop)


def _replay_pool():
    """Replays are independent: spread them over the machine's cores."""
    import multiprocessing

    from nas4cnn.searching.executors import default_workers

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(default_workers(torch.device("cpu")))


def compare_markdown(rows: list[dict]) -> str:
    """The rows of `compare` as a Markdown table, headed by the optimum they were measured against."""
    r0 = rows[0]
    head = (f"Optimum: {r0['optimum']} (mean objective {r0['optimum_objective']:.4f} over "
            f"{r0['table_seeds']} seeds); {r0['repeats']} repeats, budget {r0['budget_epochs']:,} "
            "architecture-epochs.\n\n")
    if r0.get("space_networks", 0) > r0.get("table_networks", 0):
        share = max(r.get("nearest_lookup_fraction", 0.0) for r in rows)
        head += (f"The table holds a sample of {r0['table_networks']:,} of the space's {r0['space_networks']:,} "
                 "networks: a network outside it is scored as its nearest sampled network (fewest genes "
                 f"differing); up to {share:.0%} of a strategy's trainings were.\n\n")
    lines = ["| strategy | found optimum | median trained networks | median trained epochs | IQR epochs |",
             "|---|---|---|---|---|"]
    fmt = lambda x: "—" if x is None else f"{x:,.0f}"  # noqa: E731
    for r in rows:
        q = r["iqr_trained_epochs"]
        iqr = "—" if q is None else f"{q[0]:,.0f}–{q[1]:,.0f}"
        lines.append(f"| {r['strategy']} | {r['found_optimum_fraction']:.0%} | {fmt(r['median_trained_networks'])} | "
                     f"{fmt(r['median_trained_epochs'])} | {iqr} |")
    return head + "\n".join(lines)
