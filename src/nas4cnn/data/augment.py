"""Data augmentation for small images: random shifts, rotations and scalings, applied to a
whole mini-batch at once on its device (one affine resampling per batch), and random
left-right mirroring (exact: no resampling)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nas4cnn.core.seeding import AUGMENT, derive_seed


@dataclass(frozen=True)
class Augmentation:
    shift: float = 0.0  # largest shift, in pixels, along each axis
    rotate: float = 0.0  # largest rotation, in degrees, either way
    scale: float = 0.0  # largest relative change of size, either way
    flip: bool = False  # mirror each image left-right with probability 1/2

    @property
    def resamples(self) -> bool:
        return bool(self.shift or self.rotate or self.scale)

    @property
    def active(self) -> bool:
        return self.resamples or self.flip

    def generator(self, seed: int, epoch: int) -> torch.Generator:
        """The draws of one epoch; the same for every candidate of a run, like the batch order."""
        return torch.Generator().manual_seed(derive_seed(AUGMENT, seed, epoch))

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """x: B x C x H x W raw images (background 0) -> randomly transformed copies.

        Each image gets its own uniform draw of shift, angle and scale; pixels are
        resampled bilinearly and what comes in from outside the image is 0. With `flip`, each
        image is then mirrored with probability 1/2 (drawn after the others, so a recipe
        without it draws as before)."""
        if self.resamples:
            x = self._resample(x, gen)
        if self.flip:
            mirror = torch.rand(x.shape[0], generator=gen) < 0.5
            x = torch.where(mirror.to(x.device)[:, None, None, None], x.flip(-1), x)
        return x

    def _resample(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        b, _, h, w = x.shape
        u = torch.rand(b, 4, generator=gen, dtype=torch.float32) * 2 - 1
        angle = u[:, 0] * math.radians(self.rotate)
        inv_scale = 1 / (1 + u[:, 1] * self.scale)
        cos, sin = torch.cos(angle) * inv_scale, torch.sin(angle) * inv_scale
        # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
        tx, ty = u[:, 2] * self.shift * 2 / w, u[:, 3] * self.shift * 2 / h
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1).to(x.device)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
