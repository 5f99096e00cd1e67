"""The benchmark scripts' baseline must keep working with the search loop (no timing here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from original_way import OriginalWayEvaluator  # noqa: E402

from nas4cnn.api.search_runs import make_search_strategy  # noqa: E402
from nas4cnn.core.config import RunConfig  # noqa: E402
from nas4cnn.searching.loop import run_search  # noqa: E402


def test_original_way_evaluator_drives_a_search():
    config = RunConfig().override("search", generations=1, population=2).override("train", epochs=1)
    ev = OriginalWayEvaluator(config.space, 0.01, 1, 206_742)
    result = run_search(make_search_strategy(config), ev, config.search.generations)
    assert ev.n_requested == ev.n_trained == 4
    assert len(result.history.records) == 2 and 0 <= result.best.val_error <= 1


def test_fashion_benchmark_skips_without_its_files(tmp_path, capsys):
    from bench_fashion import main

    assert main(["--data-dir", str(tmp_path / "absent")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"skipped: Fashion-MNIST not found in {tmp_path / 'absent'}")


def test_the_deep_benchmark_compares_equal_work_and_skips_without_its_files(tmp_path, capsys):
    import torch
    from bench_deep import NETWORKS, SHAPE, Wide, part_b, part_c

    from nas4cnn.core.deep_params import count_params
    from nas4cnn.core.spaces import COMPACT

    for name in NETWORKS:  # the wide network holds exactly the P networks' parameters
        arch = COMPACT.decode(COMPACT.parse(name))
        wide = Wide(arch, 3)
        assert sum(p.numel() for p in wide.parameters()) == 3 * count_params(arch, SHAPE, 10)
        assert wide(torch.zeros(2, *SHAPE)).shape == (3, 2, 10)

    class Args:
        data_dir = str(tmp_path / "absent")

    part_b(Args())
    part_c(Args())
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("(b) skipped: Fashion-MNIST not found")
    assert out[1].startswith("(c) skipped: Fashion-MNIST not found")


def test_a_search_run_by_a_benchmark_is_timed_heard_and_its_failure_named(capsys):
    import pytest
    from bench_fashion import run_cli_search

    ok = [sys.executable, "-c", "import sys; print('generation 1', file=sys.stderr); print('out')"]
    wall, stderr = run_cli_search(ok, "c", echo=True)
    assert wall > 0 and stderr == "generation 1\n"
    assert capsys.readouterr().err == "    | generation 1\n"
    with pytest.raises(SystemExit, match=r"\(b\) the search failed with exit status 3"):
        run_cli_search([sys.executable, "-c", "import sys; print('bad input', file=sys.stderr); sys.exit(3)"], "b")
    assert "bad input" in capsys.readouterr().out
