"""PNG plots of a run: objective progression and the final model's learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .search import GenerationRecord  # noqa: E402
from .train import EpochStats  # noqa: E402


def plot_progression(records: Sequence[GenerationRecord], path: str | Path) -> None:
    gens = [r.generation for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    nan = float("nan")
    finite = [(r.global_best if r.global_best < float("inf") else nan,
               r.local_best if r.local_best < float("inf") else nan) for r in records]
    ax.plot(gens, [g for g, _ in finite], label="global best", lw=2)
    ax.plot(gens, [loc for _, loc in finite], label="local best (this generation)", lw=1, alpha=0.8)
    ax.set_xlabel("generation")
    ax.set_ylabel("objective (val error + λ·Np/Nmax)")
    ax.set_title("Objective progression")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: Sequence[EpochStats], test_nll: float, test_error: float, path: str | Path) -> None:
    epochs = [h.epoch for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(epochs, [h.train_loss for h in history], label="train")
    a.plot(epochs, [h.val_loss for h in history], label="validation")
    a.axhline(test_nll, ls="--", color="grey", label=f"test ({test_nll:.3f})")
    a.set_xlabel("epoch")
    a.set_ylabel("mean NLL")
    a.set_title("Loss")
    b.plot(epochs, [h.train_error for h in history], label="train")
    b.plot(epochs, [h.val_error for h in history], label="validation")
    b.axhline(test_error, ls="--", color="grey", label=f"test ({test_error:.4f})")
    b.set_xlabel("epoch")
    b.set_ylabel("classification error")
    b.set_title("Classification error")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
