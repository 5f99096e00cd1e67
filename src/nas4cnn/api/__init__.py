"""The Python API; the command line is a thin layer over these functions."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from nas4cnn.core import rundir
from nas4cnn.core.config import (
    RunConfig,
    TrainConfig,
    check_early_stop,
    config_from_dict,
    validate,
)
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.space import Genotype, SearchSpace
from nas4cnn.data.dataset import DataSet, load_dataset
from nas4cnn.final.baselines import BASELINES, comparison_rows, train_baselines
from nas4cnn.final.training import FinalRuns, architecture, train_repeats
from nas4cnn.nn.checkpoint import load_model, save_model
from nas4cnn.nn.engine import uses_fused_step
from nas4cnn.nn.model import CNN, check_space_fits, max_params
from nas4cnn.outputs.export import export as export  # re-exported: part of the API
from nas4cnn.outputs.plots import plot_bars, plot_curves
from nas4cnn.outputs.predict import (
    Prediction as Prediction,  # re-exported: part of the API
)
from nas4cnn.outputs.predict import predict as predict
from nas4cnn.outputs.report import report
from nas4cnn.outputs.summary import write_outputs
from nas4cnn.search.evaluator import Evaluation, Evaluator
from nas4cnn.search.executors import LocalExecutor, TrainJob, resolve_device
from nas4cnn.search.loop import run_search
from nas4cnn.search.store import RunStore

log = logging.getLogger(__name__)

GenotypeLike = str | Sequence[int]
EXECUTORS = ("local", "ray")


class Interrupted(Exception):
    """The user stopped a search (Ctrl-C); everything finished so far is in the store."""

    def __init__(self, path: Path):
        super().__init__(f"interrupted; finished work is saved in {path}")
        self.path = path


@dataclass(frozen=True)
class Run:
    """A finished search: its folder, its summary and the final model."""

    path: Path
    summary: dict
    model: CNN


def prepare(config: RunConfig | None, data: DataSet | None) -> tuple[RunConfig, DataSet]:
    """Validate the config, load and check the data, and check the space fits the data's images."""
    config = config or RunConfig()
    validate(config)
    data = data if data is not None else load_dataset(config.data)
    check_space_fits(config.space, data.input_shape)
    return config, data


def resolve_genotype(space: SearchSpace, genotype: GenotypeLike, what: str = "genotype") -> Genotype:
    if isinstance(genotype, str):
        return space.parse(genotype, what)
    return space.validate(list(genotype), what)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_same_config(stored: dict, given: dict) -> None:
    a, b = _flatten(stored), _flatten(given)
    diffs = [f"{k} is {a.get(k)!r} in the run but {b.get(k)!r} here" for k in sorted(set(a) | set(b))
             if a.get(k) != b.get(k)]
    if diffs:
        raise ConfigError(f"--resume: the run was made with another configuration: {'; '.join(diffs)}")


def _check_same_data(stored: dict, data: DataSet, what: str) -> None:
    """The data set a run was made with (its `dataset` record) against `data`."""
    given = _info_dataset(data)
    diffs = [f"{k} is {stored.get(k)!r} in the run but {v!r} here" for k, v in given.items() if stored.get(k) != v]
    if diffs:
        raise ConfigError(f"{what}: the run was made with other data: {'; '.join(diffs)}"
                          + ("; give the run's data set (data=...)" if stored.get("name") != given["name"] else ""))


def _make_executor(kind: str, data: DataSet, job: TrainJob, device: str, workers: int | None,
                   ray_address: str | None):
    if kind == "local":
        return LocalExecutor(data, job, device, workers)
    if kind == "ray":
        from nas4cnn.search.executors.ray import RayExecutor

        return RayExecutor(data, job, address=ray_address, device=device)
    raise ConfigError(f"--executor must be one of {list(EXECUTORS)}; got {kind!r}")


def search(
    config: RunConfig | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    progress: bool = False,
) -> Run:
    """Run the search (or continue an interrupted one with `resume`), train the winner from
    scratch, and write the run directory. Every finished evaluation is committed to the run's
    store as it completes."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor must be one of {list(EXECUTORS)}; got {executor!r}")
    if ray_address is not None and executor != "ray":
        raise ConfigError(f"--ray-address {ray_address} is for --executor ray; got --executor {executor}")
    if resume is not None:
        path = Path(resume)
        store = RunStore.open(path)
        try:
            if store.status == "finished":
                if not (path / rundir.SUMMARY).exists():  # killed after finishing, before writing
                    write_outputs(path, store)
                    store.close()
                    report(path)
                    return load_run(path)
                raise RunDirError(f"--resume: the run in {str(path)!r} is already finished")
            stored = config_from_dict(store.config, source=f"{path}/run.db")
            if config is not None:
                _check_same_config(store.config, config.to_dict())
            config, data = prepare(stored, data)
            _check_same_data(store.info["dataset"], data, "--resume")
            want = store.info["execution"]["device"]
            got = resolve_device(device).type
            if got != want:
                raise ConfigError(f"--device: the run was made on {want!r} and would not give the same "
                                  f"results on {got!r}; resume with --device {want}")
            step = store.info["execution"].get("cpu_step")
            if step and executor == "local" and step != _cpu_step(resolve_device(device), config.train):
                log.warning("the run was trained with the %s CPU step and resumes with the other one: its "
                            "results may differ from an uninterrupted run's by float rounding", step)
        except BaseException:
            store.close()
            raise
    else:
        config, data = prepare(config, data)
        path = rundir.choose_run_dir(out, config.search.seed)
    s = config.search
    job = TrainJob(config.train, config.train.epochs, s.seed)
    with contextlib.ExitStack() as undo:  # what was opened is closed again if setting up fails
        if resume is not None:
            undo.callback(store.close)
        ex = _make_executor(executor, data, job, device, workers, ray_address)
        undo.callback(ex.close)
        evaluator = Evaluator(config.space, data, config.train, s.lam, s.seed, executor=ex, early_stop=s.early_stop)
        if resume is None:
            rundir.make_run_dir(path)
            store = RunStore.create(path, config.to_dict(), _info(data, evaluator, config.train))
        undo.pop_all()
    log.info("run directory: %s", path)

    done = len(store.generations())
    bar = tqdm(total=s.generations + 1, initial=done, desc="search", unit="gen", disable=not progress)
    try:
        with open(path / rundir.EVALUATIONS, "a", encoding="utf-8") as live:

            def on_generation(record, results: list[Evaluation]) -> None:
                for r in results:
                    live.write(json.dumps({"generation": record.generation, **r.to_dict()}) + "\n")
                live.flush()
                bar.set_postfix(best=f"{record.global_best:.4f}", trained=evaluator.n_trained)
                bar.update()

            result = run_search(config, evaluator, store, on_generation)
        bar.close()
        evaluator.close()
        final = _train_final(config, result.best.genotype, data, evaluator.device, progress)
        _save_final(path, final, config, data)
        store.finish(final.metrics())
        summary = write_outputs(path, store)
        report(path)
    except KeyboardInterrupt:
        raise Interrupted(path) from None
    finally:
        bar.close()
        evaluator.close()
        store.close()
    return Run(path, summary, final.first.model)


def tabulate(
    config: RunConfig | None = None,
    *,
    seeds: int = 3,
    out: str | Path | None = None,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
    progress: bool = False,
):
    """Train every distinct network of the space for `config.train.epochs`, for seeds
    `config.search.seed` ... + seeds - 1, and return (and save to `out`) the table."""
    from nas4cnn.tables.tabulate import tabulate as run_tabulate

    config, data = prepare(config, data)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1; got {seeds!r}")
    if out is not None:
        out = rundir.check_writable(out, "--out")
    n = len({config.space.canonical(g) for g in config.space.all_genotypes()})
    bar = tqdm(total=n * seeds, desc="tabulate", unit="net", disable=not progress)
    try:
        table = run_tabulate(config, data, list(range(config.search.seed, config.search.seed + seeds)),
                             device, workers, on_progress=bar.update)
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
               "table_seeds": len(t.seeds)}
    rows, curves = [], {}
    bar = tqdm(total=len(names) * repeats, desc="compare", unit="run", disable=not progress)
    jobs = [(str(table) if table else None, specs[name][0], r, lam, budget, specs[name][1], specs[name][2],
             early_stop) for name in names for r in range(repeats)]
    try:
        with _replay_pool() as pool:
            done = []
            for result in pool.imap(_replay_job, jobs, chunksize=4):
                done.append(result)
                bar.update()
    finally:
        bar.close()
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

    from nas4cnn.search.executors import default_workers

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method).Pool(default_workers(torch.device("cpu")))


def compare_markdown(rows: list[dict]) -> str:
    """The rows of `compare` as a Markdown table, headed by the optimum they were measured against."""
    r0 = rows[0]
    head = (f"Optimum: {r0['optimum']} (mean objective {r0['optimum_objective']:.4f} over "
            f"{r0['table_seeds']} seeds); {r0['repeats']} repeats, budget {r0['budget_epochs']:,} "
            "architecture-epochs.\n\n")
    lines = ["| strategy | found optimum | median trained networks | median trained epochs | IQR epochs |",
             "|---|---|---|---|---|"]
    fmt = lambda x: "—" if x is None else f"{x:,.0f}"  # noqa: E731
    for r in rows:
        q = r["iqr_trained_epochs"]
        iqr = "—" if q is None else f"{q[0]:,.0f}–{q[1]:,.0f}"
        lines.append(f"| {r['strategy']} | {r['found_optimum_fraction']:.0%} | {fmt(r['median_trained_networks'])} | "
                     f"{fmt(r['median_trained_epochs'])} | {iqr} |")
    return head + "\n".join(lines)


def run_config(run_dir: str | Path) -> RunConfig:
    """The configuration a run (finished or not) was made with."""
    store = RunStore.open(run_dir, write=False)
    try:
        return config_from_dict(store.config, source=f"{run_dir}/run.db")
    finally:
        store.close()


def rebuild(run_dir: str | Path) -> dict:
    """Rewrite a run's summary.json, evaluations.jsonl, plots and report.html from its store alone."""
    path = Path(run_dir)
    store = RunStore.open(path, "")
    try:
        summary = write_outputs(path, store)
    finally:
        store.close()
    report(path)
    return summary


def evaluate(
    genotypes: Sequence[GenotypeLike],
    config: RunConfig | None = None,
    *,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
) -> list[Evaluation]:
    """Train each genotype (index lists or names; or one genotype alone) for
    `config.train.epochs` and score it with the search objective."""
    config, data = prepare(config, data)
    if isinstance(genotypes, str) or (genotypes and all(isinstance(g, int) for g in genotypes)):
        genotypes = [genotypes]
    resolved = [resolve_genotype(config.space, g) for g in genotypes]
    s = config.search
    with Evaluator(config.space, data, config.train, s.lam, s.seed, device, workers) as evaluator:
        return evaluator.evaluate(resolved)


def train(
    genotype: GenotypeLike,
    config: RunConfig | None = None,
    *,
    epochs: int | None = None,
    repeats: int | None = None,
    data: DataSet | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> FinalRuns:
    """Train one architecture from scratch as the final model is trained (the config's final
    epochs, patience, train + validation and repeats unless `epochs` / `repeats` are given) and
    test it. With `out`, save the first seed's model, its curves and the metrics there."""
    config, data = prepare(config, data)
    # `train` calls the final epochs --epochs; --repeats is checked by the config as it is.
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"--epochs must be an integer >= 1; got {epochs!r}")
    config = config.override("search", final_epochs=epochs, final_repeats=repeats)
    g = resolve_genotype(config.space, genotype)
    path = rundir.choose_run_dir(out, config.search.seed) if out is not None else None
    if path is not None:
        rundir.make_run_dir(path)
    final = _train_final(config, g, data, resolve_device(device), progress)
    if path is not None:
        _save_final(path, final, config, data)
        rundir.write_json(path / "train.json", final.metrics())
    return final


def _train_final(config: RunConfig, g: Genotype, data: DataSet, device: torch.device, progress: bool) -> FinalRuns:
    s = config.search
    bar = tqdm(total=s.final_repeats * s.final_epochs * (2 if s.final_trainval else 1),
               desc=f"final {config.space.name(g)}", unit="epoch", disable=not progress)
    try:
        return train_repeats(
            architecture(config.space, g, data), data, config.train, s.final_epochs, s.seed, s.final_repeats,
            device=device, on_epoch=lambda h: (bar.set_postfix(_epoch_postfix(h)), bar.update()),
            patience=s.final_patience, trainval=s.final_trainval,
        )
    finally:
        bar.close()


def _epoch_postfix(h) -> dict:
    """Validation error while it is measured; the training loss on train + validation."""
    if h.val_error == h.val_error:
        return {"val_error": f"{h.val_error:.4f}"}
    return {"train+val loss": f"{h.train_loss:.4f}"}


def _save_final(path: Path, final: FinalRuns, config: RunConfig, data: DataSet) -> None:
    """The first seed's model, with its input normalisation and class names, and its curves."""
    first = final.first
    save_model(first.model, path / rundir.MODEL, first.genotype, normalization=first.normalization,
               class_names=data.class_names, pixel_max=data.pixel_max, extra={"config": config.to_dict()})
    plot_curves(first.history, first.test_nll, first.test_error, path / rundir.CURVES_PNG)


def baseline(
    config: RunConfig | None = None,
    *,
    run: str | Path | None = None,
    repeats: int | None = None,
    data: DataSet | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    progress: bool = False,
) -> list[dict]:
    """Train the seed's two comparison models (a human-designed CNN, a feed-forward network)
    the way the final model is trained, and compare. With `run`, use that run's recipe and
    data and add its final model; `out` (default: the run's folder) gets baselines.json and
    the seed's bar chart, baselines.png, and a run folder's report.html is rewritten with them.
    Returns one row per model."""
    searched = None
    if run is not None:
        if config is not None:
            raise ConfigError("--run: the baselines use the run's own settings; do not give settings as well")
        summary = rundir.read_summary(run)
        if not summary.get("final"):
            raise RunDirError(f"--run: {str(run)!r} has no final model yet; finish it with --resume first")
        config, searched = config_from_dict(summary["config"], source=f"{run}/summary.json"), summary["final"]
        out = run if out is None else out
    config, data = prepare(config, data)
    if run is not None and summary.get("dataset"):
        _check_same_data(summary["dataset"], data, "--run")
    config = config.override("search", final_repeats=repeats)
    s = config.search
    path = rundir.make_run_dir(Path(out)) if out is not None else None
    bar = tqdm(total=len(BASELINES) * s.final_repeats * s.final_epochs * (2 if s.final_trainval else 1),
               desc="baselines", unit="epoch", disable=not progress)
    try:
        results = train_baselines(data, config.train, s.final_epochs, s.seed, s.final_repeats,
                                  resolve_device(device), s.final_patience, s.final_trainval,
                                  on_epoch=lambda h: bar.update())
    finally:
        bar.close()
    rows = comparison_rows(results, searched, digits=config.data.dataset == "digits")
    if path is not None:
        detail = {name: {k: v for k, v in r.metrics().items() if k not in ("history", "trainval_history")}
                  for name, r in results.items()}
        rundir.write_json(path / "baselines.json", {"config": config.to_dict(), "rows": rows, "baselines": detail})
        plot_bars(rows, path / "baselines.png")
        if (path / "run.db").is_file() or (path / rundir.SUMMARY).is_file():
            report(path)  # a run folder: its report gains the Baselines section
    return rows


def load_run(path: str | Path) -> Run:
    """A finished run directory: its summary and its model, rebuilt."""
    path = Path(path)
    summary = rundir.read_summary(path)
    return Run(path, summary, load_model(path / rundir.MODEL))


def space_info(config: RunConfig | None = None, data: DataSet | None = None) -> dict:
    config, data = prepare(config, data)
    return {
        "genes": config.space.to_dict(),
        "size": config.space.size,
        "dataset": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "nmax": max_params(config.space, data.input_shape, data.num_classes),
    }


def _info(data: DataSet, evaluator: Evaluator, train: TrainConfig) -> dict:
    execution = {"device": evaluator.device.type}
    if evaluator.device.type == "cpu" and isinstance(evaluator.executor, LocalExecutor):
        execution["cpu_step"] = _cpu_step(evaluator.device, train)  # a cluster's nodes decide for themselves
    return {
        "dataset": _info_dataset(data),
        "nmax": evaluator.nmax,
        "execution": execution,
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }


def _cpu_step(device: torch.device, train: TrainConfig) -> str:
    """Which training step a local run's groups take: the fused C step or PyTorch operations."""
    return "fused" if uses_fused_step(device, train) else "pytorch"


def _info_dataset(data: DataSet) -> dict:
    return {
        "name": data.name,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
    }
