"""How the commands print their results: aligned key-value tables and test figures."""

from __future__ import annotations


def table(rows: list[tuple[str, str]]) -> None:
    """Print `rows` as two columns, the keys padded to one width."""
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def spread(mean: float, std: float | None, repeats: int) -> str:
    """A mean over the final repeats, with its standard deviation where there is one: one
    repeat, or a std given as None, has no spread to show."""
    if repeats > 1 and std is not None:
        return f"{mean:.4f} ± {std:.4f}"
    return f"{mean:.4f}"


def test_rows(m: dict) -> list[tuple[str, str]]:
    """The test figures of a final model's metrics (`FinalRuns.metrics`): the one seed's, or
    the mean and spread over the seeds and each seed's."""
    k = m["repeats"]
    if k == 1:
        return [("test error", f"{m['test_error']:.4f}"), ("test NLL", f"{m['test_nll']:.4f}")]
    seeds = ", ".join(f"{r['test_error']:.4f}/{r['test_nll']:.4f}" for r in m["per_seed"])
    return [
        (f"test error ({k} seeds)", spread(m["test_error_mean"], m["test_error_std"], k)),
        (f"test NLL ({k} seeds)", spread(m["test_nll_mean"], m["test_nll_std"], k)),
        ("per seed error/NLL", seeds),
    ]


def epochs_text(m: dict) -> str:
    text = f"{m['epochs']} on train, best {m['best_epoch']}"
    return text + (f", then {m['trainval_epochs']} on train + validation" if m["trainval_epochs"] else "")
