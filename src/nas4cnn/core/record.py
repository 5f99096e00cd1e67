"""The evaluation record: what training one network for one request gave.

It is the one result type of the search: the evaluator makes it, the search loop commits it,
the store writes and reads it back as it is, strategies are told it, and the outputs list
it. Its `status` says what happened; `reason` says why in words, for people only (no status
is ever read back out of it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from enum import Enum

from nas4cnn.core.space import Genotype


class Status(str, Enum):
    OK = "ok"  # trained for its epochs: its figures and objective count
    FAILED = "failed"  # training failed (non-finite loss, out of memory): objective infinity
    PRUNED = "pruned"  # not trained: its size penalty alone could not beat the best objective, or it does
    # not fit the data's images or the space's parameter limit (the reason says which)
    STOPPED = "stopped"  # stopped early at a checkpoint: its figures are from there, objective infinity

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """One network's result, as seen by one request for it.

    `epochs` is always the number of epochs asked for (the configured ones, or fewer for a
    multi-fidelity strategy's batch). `val_error` and `val_nll` are measured for OK and
    STOPPED records (NaN otherwise); `objective` is finite for OK records only, so anything
    else ranks last. `seconds` is this network's share of its group's training time, 0 when
    the result was reused (`cached`: not trained for this request).
    """

    genotype: Genotype
    arch: str
    params: int
    epochs: int
    status: Status = Status.OK
    reason: str | None = None
    val_error: float = math.nan
    val_nll: float = math.nan
    objective: float = math.inf
    seconds: float = 0.0
    checks: dict[int, float] | None = None  # validation error at the early-stop checkpoints it reached
    cached: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def trained(self) -> bool:
        """Training ran (it may have failed or been stopped); a pruned network never trains."""
        return self.status is not Status.PRUNED

    def as_request(self, genotype: Genotype, arch: str, first: bool) -> Evaluation:
        """This result as seen by a request for `genotype` (maybe an equivalent one, named
        `arch`): the first request of the network gets its training time, the others reuse it."""
        return replace(self, genotype=tuple(genotype), arch=arch, seconds=self.seconds if first else 0.0,
                       cached=not first)

    def to_dict(self) -> dict:
        """Strict JSON: non-finite figures become None, checkpoint keys strings."""
        d = asdict(self)
        d["genotype"] = list(self.genotype)
        d["status"] = self.status.value
        if self.checks is not None:
            d["checks"] = {str(e): v for e, v in self.checks.items()}
        for k in ("val_error", "val_nll", "objective"):
            if not math.isfinite(d[k]):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        """The inverse of `to_dict`."""
        nums = {k: (math.inf if k == "objective" else math.nan) if d.get(k) is None else float(d[k])
                for k in ("val_error", "val_nll", "objective")}
        checks = d.get("checks")
        return cls(genotype=tuple(d["genotype"]), arch=d["arch"], params=int(d["params"]), epochs=int(d["epochs"]),
                   status=Status(d["status"]), reason=d.get("reason"), seconds=float(d.get("seconds", 0.0)),
                   checks=None if checks is None else {int(e): float(v) for e, v in checks.items()},
                   cached=bool(d.get("cached", False)), **nums)
