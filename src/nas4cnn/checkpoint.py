"""Save a trained network with everything needed to rebuild it, and load it back."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import RunDirError
from .model import CNN, build_model
from .space import Architecture

FORMAT = "nas4cnn-model/1"


def save_model(model: CNN, path: str | Path, genotype, extra: dict | None = None) -> None:
    path = Path(path)
    payload = {
        "format": FORMAT,
        "arch": model.arch.to_dict(),
        "arch_name": model.arch.name,
        "genotype": list(genotype),
        "input_shape": list(model.input_shape),
        "num_classes": model.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_model(path: str | Path, map_location: str = "cpu") -> CNN:
    """Rebuild the saved network (in eval mode) from a `model.pt` written by `save_model`."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise RunDirError(f"model: no such file {str(path)!r}") from None
    except Exception as e:  # a corrupt or foreign file
        raise RunDirError(f"model: {str(path)!r} is not a readable model file: {e}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise RunDirError(f"model: {str(path)!r} is not a nas4cnn model (expected format {FORMAT})")
    arch = Architecture.from_dict(payload["arch"])
    model = build_model(arch, tuple(payload["input_shape"]), payload["num_classes"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()
