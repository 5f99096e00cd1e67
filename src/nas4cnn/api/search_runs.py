"""`search`: run the search in a new run directory, or continue an interrupted one, then
train the winner from scratch and write the run's outputs."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from nas4cnn.api.budgeting import Budget, fit_final_epochs, format_duration
from nas4cnn.api.preparation import (
    check_executor,
    check_same_config,
    check_same_data,
    cpu_step,
    make_executor,
    notice,
    prepare,
    run_info,
)
from nas4cnn.api.progress import SearchProgress
from nas4cnn.api.shortlist import Shortlist, run_shortlist
from nas4cnn.api.training import save_final, train_final
from nas4cnn.core import rundir
from nas4cnn.core.config import RunConfig, config_from_dict
from nas4cnn.core.defaults import SUBSET, choose
from nas4cnn.core.errors import ConfigError, RunDirError
from nas4cnn.core.record import Evaluation, Status
from nas4cnn.core.seeding import STRATEGY, derive_seed
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources import mirrors
from nas4cnn.data.subset import search_subset
from nas4cnn.nn.checkpoint import load_model
from nas4cnn.nn.model import CNN
from nas4cnn.outputs.report import report
from nas4cnn.outputs.summary import write_outputs
from nas4cnn.searching.engine_evaluator import EngineEvaluator
from nas4cnn.searching.executors import TrainJob, default_workers, resolve_device
from nas4cnn.searching.loop import Resumed, SearchFailed, run_search
from nas4cnn.searching.loop import resume as resume_from_store
from nas4cnn.searching.store import RunStore
from nas4cnn.strategies import Strategy, make_strategy

log = logging.getLogger(__name__)


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
    """Run the search (or continue an interrupted one with `resume`: see `resume_search`),
    train the winner from scratch, and write the run directory. Every trained network is
    committed to the run's store as its training group finishes."""
    if resume is not None:
        return resume_search(resume, config, data=data, device=device, workers=workers, executor=executor,
                             ray_address=ray_address, progress=progress)
    check_executor(executor, ray_address)
    config, data = prepare(config, data)
    strategy = make_search_strategy(config)
    path = rundir.choose_run_dir(out, config.search.seed)
    with contextlib.ExitStack() as undo:  # what was opened is closed again if setting up fails
        evaluator = _evaluator(config, data, device, workers, executor, ray_address)
        undo.callback(evaluator.close)
        rundir.make_run_dir(path)
        store = RunStore.create(path, config.to_dict(), run_info(data, evaluator, config))
        undo.pop_all()
    return _search_and_finish(path, store, config, data, strategy, evaluator, None, progress)


def resume_search(
    run_dir: str | Path,
    config: RunConfig | None = None,
    *,
    data: DataSet | None = None,
    device: str = "auto",
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    progress: bool = False,
) -> Run:
    """Continue the interrupted run in `run_dir` from what its store committed, and finish it
    as an uninterrupted run would have. `config`, if given, must agree with the run's."""
    check_executor(executor, ray_address)
    given = config
    path = Path(run_dir)
    store = RunStore.open(path)  # locked: no other process writes this run while it is open
    with contextlib.ExitStack() as undo:
        undo.callback(store.close)
        # A run killed after it finished, before its outputs were written: write them.
        if store.status == "finished":
            if (path / rundir.SUMMARY).exists():
                raise RunDirError(f"--resume: the run in {str(path)!r} is already finished")
            write_outputs(path, store)
            store.close()
            undo.pop_all()
            report(path)
            return load_run(path)
        # The run's own settings and data; what the caller gave must agree with them.
        stored = config_from_dict(store.config, source=f"{path}/run.db")
        if "subset" not in store.config.get("search", {}):  # made before subsets: ranked on every image
            sizes = store.info["dataset"]["sizes"]
            stored = stored.override("search", subset=sizes["train"], val_subset=sizes["val"])
        config, data = prepare(stored, data)
        check_same_data(store.info["dataset"], data, "--resume")
        if given is not None:  # the settings given are compared as the run chose them
            chosen, _ = choose(given, len(data.train), len(data.val), mirrors(data.name))
            check_same_config(config.to_dict(), chosen.to_dict())
        # The same kind of device and CPU step, or the results would not be the same.
        want, got = store.info["execution"]["device"], resolve_device(device)
        if got.type != want:
            raise ConfigError(f"--device: the run was made on {want!r} and would not give the same "
                              f"results on {got.type!r}; resume with --device {want}")
        step = store.info["execution"].get("cpu_step")
        if step and executor == "local" and step != cpu_step(got, config.train):
            log.warning("the run was trained with the %s CPU step and resumes with the other one: its "
                        "results may differ from an uninterrupted run's by float rounding", step)
        # The strategy, the evaluator's records and the history, as they were when it stopped.
        strategy = make_search_strategy(config)
        evaluator = _evaluator(config, data, device, workers, executor, ray_address)
        undo.callback(evaluator.close)
        resumed = resume_from_store(store, strategy, evaluator)
        undo.pop_all()
    return _search_and_finish(path, store, config, data, strategy, evaluator, resumed, progress)


def make_search_strategy(config: RunConfig) -> Strategy:
    """The configured strategy, refused when the search would end before any network is
    trained for the full epochs (a multi-fidelity strategy given too few generations)."""
    s = config.search
    strategy = make_strategy(s.strategy, config.space, s.population, derive_seed(STRATEGY, s.seed),
                             distinct=s.distinct_survivors, max_epochs=config.train.epochs)
    first = getattr(strategy, "first_full_batch", 0)
    if first > s.generations:
        raise ConfigError(f"search.generations (--generations) is {s.generations}, but {s.strategy} first trains "
                          f"networks for the full {config.train.epochs} epochs in generation {first}: no network "
                          f"could be chosen; give --generations {first} or more")
    return strategy


def _evaluator(config: RunConfig, data: DataSet, device: str, workers: int | None, executor: str,
               ray_address: str | None) -> EngineEvaluator:
    s = config.search
    data = search_subset(data, s.subset, s.val_subset, config.data.split_seed)  # what candidates are ranked on
    ex = make_executor(executor, data, TrainJob(config.train, config.train.epochs, s.seed), device, workers,
                       ray_address)
    try:
        return EngineEvaluator(config.space, data, config.train, s.lam, s.seed, executor=ex,
                               early_stop=s.early_stop)
    except BaseException:
        ex.close()
        raise


def _search_and_finish(path: Path, store: RunStore, config: RunConfig, data: DataSet, strategy: Strategy,
                       evaluator: EngineEvaluator, resumed: Resumed | None, progress: bool) -> Run:
    """The search from where it stands (within the budget's share, if any), then the final
    model (its epochs fitted to what the budget leaves) and the outputs."""
    log.info("run directory: %s", path)
    s = config.search
    workers = getattr(evaluator.executor, "workers", None)
    if workers and len(data.train) > SUBSET:  # told with the settings chosen from the data's size
        notice.info("training on %d worker process%s (one single-threaded per core unless --workers)", workers,
                    "" if workers == 1 else "es")
    budget = None
    if s.budget:
        budget = Budget(s.budget, spent=resumed.history.seconds if resumed else 0.0)
        notice.info("budget %s: the search gets %s, the final model what is left", format_duration(s.budget),
                    format_duration(budget.search_share))
    ended = store.search_end  # a resumed run whose budget had ended its search: on to the final model
    bars = SearchProgress(s.generations, resumed.generation if resumed else 0, min(s.subset, len(data.train)),
                          budget, progress)
    evaluator.progress = bars
    finished = [len(resumed.history.records) if resumed else 0]  # generations done: the first always runs
    try:
        with open(path / rundir.EVALUATIONS, "a", encoding="utf-8") as live:

            def on_generation(record, results: list[Evaluation]) -> None:
                for r in results:
                    live.write(json.dumps({"generation": record.generation, **r.to_dict()}) + "\n")
                live.flush()
                bars.generation(record, evaluator.n_trained)
                finished[0] += 1

            until = None
            if ended:
                until = lambda: True  # noqa: E731
            elif budget is not None:
                until = lambda: finished[0] > 0 and budget.search_over()  # noqa: E731
            result = run_search(strategy, evaluator, s.generations, store, resumed, on_generation, until)
        bars.close()
        evaluator.close()
        last = result.history.records[-1].generation if result.history.records else -1
        if budget is not None and not ended and last < s.generations:
            ended = {"reason": "budget", "after_generation": last, "seconds": round(budget.elapsed(), 3)}
            store.end_search(ended)
            notice.info("the budget ended the search after generation %d of %d (%s)", last, s.generations,
                        format_duration(budget.elapsed()))
        if result.best is None:
            raise _failed(result.history.evaluations)
        winner = result.best.genotype
        listed = Shortlist.from_dict(store.shortlist) if store.shortlist else None
        if listed is None and s.shortlist > 1:
            listed = run_shortlist(config, data, result.history, store.info["ranked_on"], evaluator.device,
                                   workers or default_workers(evaluator.device), budget, progress)
            if listed is not None:
                store.record_shortlist(listed.to_dict())
        if listed is not None:
            winner = listed.winner.genotype
        final_config = config  # (a cluster's run trains its final model on this machine's cores)
        if budget is not None:
            parallel = (workers or default_workers(evaluator.device)) > 1 and evaluator.device.type == "cpu"
            epochs, per_epoch = fit_final_epochs(config, winner, data, budget.left(),
                                                 parallel and s.final_patience == 0)
            notice.info("final model: %d epoch%s (about %s each) in the %s the budget leaves", epochs,
                        "" if epochs == 1 else "s", format_duration(per_epoch) if per_epoch >= 1 else "under 1s",
                        format_duration(budget.left()))
            final_config = config.override("search", final_epochs=epochs)
        final = train_final(final_config, winner, data, evaluator.device, progress, workers)
        save_final(path, final, config, data)
        metrics = final.metrics()
        if budget is not None:
            metrics["budget"] = {"seconds": s.budget, "final_epochs": final_config.search.final_epochs,
                                 "search_end": ended, "elapsed": round(budget.elapsed(), 3)}
        store.finish(metrics)
        summary = write_outputs(path, store)
        report(path)
    except KeyboardInterrupt:
        raise Interrupted(path) from None
    finally:
        bars.close()
        evaluator.close()
        store.close()
    return Run(path, summary, final.first.model)


def _failed(evaluations: list[tuple[int, Evaluation]]) -> SearchFailed:
    """Why the search has no network to choose: none was trained for the full epochs."""
    failed = [e for _, e in evaluations if e.status is Status.FAILED]
    if failed and len(failed) == len(evaluations):
        return SearchFailed(f"every one of the {len(evaluations)} evaluations failed to train (for example: "
                            f"{sorted({e.reason for e in failed})[0]}); check the training settings")
    example = f" ({len(failed)} failed to train, for example: {sorted({e.reason for e in failed})[0]})" if failed \
        else ""
    return SearchFailed(f"none of the {len(evaluations)} evaluations was trained for the full epochs{example}; "
                        "the others were pruned, stopped early or trained for fewer epochs: give more generations "
                        "or turn early stopping off")


def load_run(path: str | Path) -> Run:
    """A finished run directory: its summary and its model, rebuilt."""
    path = Path(path)
    summary = rundir.read_summary(path)
    return Run(path, summary, load_model(path / rundir.MODEL))
