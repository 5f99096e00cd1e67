"""The original project's (the seed's) two comparison models, trained with the same recipe
as the searched one.

The original project's document reports a human-designed CNN and a feed-forward network but
does not give their layers; these are the usual hand-made choices for small images:

- `human-cnn`: Conv 16 3x3 -> ReLU -> MaxPool 2 -> Conv 32 3x3 -> ReLU -> MaxPool 2 ->
  Linear 64 -> ReLU -> Linear (classes);
- `feed-forward`: Flatten -> Linear 128 -> ReLU -> Linear 64 -> ReLU -> Linear (classes).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nas4cnn.final.training import FinalRuns, Network, train_repeats
from nas4cnn.nn.model import InputShape

BASELINES = ("human-cnn", "feed-forward")
# The original project's published test figures (classification error, NLL) on the same split.
PUBLISHED = {"human-cnn": (0.0716, 0.30), "feed-forward": (0.0783, 0.336), "searched": (0.0604, 0.193)}


def human_cnn(input_shape: InputShape, num_classes: int) -> nn.Module:
    c, h, w = input_shape
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(32 * (-(-h // 4)) * (-(-w // 4)), 64), nn.ReLU(),
        nn.Linear(64, num_classes), nn.LogSoftmax(dim=1),
    )


def feed_forward(input_shape: InputShape, num_classes: int) -> nn.Module:
    c, h, w = input_shape
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, num_classes), nn.LogSoftmax(dim=1),
    )


_BUILDERS: dict[str, Callable[[InputShape, int], nn.Module]] = {"human-cnn": human_cnn, "feed-forward": feed_forward}


def builder(name: str, input_shape: InputShape, num_classes: int) -> Callable[[int], nn.Module]:
    """`build(init_seed)` for a baseline: the same initialisation for the same seed."""

    def build(init: int) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init)
            return _BUILDERS[name](input_shape, num_classes)

    return build


def count_params(name: str, input_shape: InputShape, num_classes: int) -> int:
    return sum(p.numel() for p in _BUILDERS[name](input_shape, num_classes).parameters())


def train_baselines(
    data,
    cfg,
    epochs: int,
    seed: int,
    repeats: int,
    device: torch.device | str = "cpu",
    patience: int = 0,
    trainval: bool = False,
    on_epoch=None,
) -> dict[str, FinalRuns]:
    """Each baseline trained `repeats` times (seeds seed, seed + 1, ...) the way the final
    model is trained."""
    out = {}
    for i, name in enumerate(BASELINES):
        build = builder(name, data.input_shape, data.num_classes)
        params = count_params(name, data.input_shape, data.num_classes)
        # A genotype-like tag keeps the baselines' initialisation seeds apart from each other.
        out[name] = train_repeats(Network(build, name, (1000, i), params), data, cfg, epochs, seed, repeats,
                                  device=device, on_epoch=on_epoch, patience=patience, trainval=trainval)
    return out


def comparison_rows(baselines: dict[str, FinalRuns], searched: dict | None, digits: bool) -> list[dict]:
    """Rows for `plots.plot_bars` and the JSON output: each baseline and, if given, the
    searched model's final metrics; the original's published figures only on its own data (digits)."""
    rows = []
    for name, runs in baselines.items():
        rows.append({"label": name, "params": runs.first.params, **_figures(runs.metrics())})
    if searched is not None:
        rows.append({"label": f"searched\n{searched['arch']}", "params": searched["params"], **_figures(searched)})
    if digits:
        for row, key in zip(rows, [*baselines, "searched"]):
            row["published_error"], row["published_nll"] = PUBLISHED[key]
    return rows


def _figures(m: dict) -> dict:
    keys = ("test_error_mean", "test_error_std", "test_nll_mean", "test_nll_std")
    if all(k in m for k in keys):
        return {k: m[k] for k in keys} | {"repeats": m.get("repeats", 1)}
    return {"test_error_mean": m["test_error"], "test_error_std": None, "test_nll_mean": m["test_nll"],
            "test_nll_std": None, "repeats": 1}
