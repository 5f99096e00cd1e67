"""Checks of a setting's value: each takes the value and the setting's name for the message,
and raises a ConfigError naming the setting, what was expected and what was given."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nas4cnn.core.errors import ConfigError


@dataclass(frozen=True)
class Integer:
    """An integer >= minimum (and <= maximum, if given); never a bool."""

    minimum: int
    maximum: int | None = None
    type: type = int

    def __call__(self, value, name: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            raise ConfigError(f"{name} must be an integer >= {self.minimum}; got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"{name} must be an integer in {self.minimum}..{self.maximum}; got {value!r}")


@dataclass(frozen=True)
class Number:
    """A finite number >= 0 (> 0 if `positive`), below `below` or at most `at_most` (in `unit`)."""

    positive: bool = False
    below: float | None = None
    at_most: float | None = None
    unit: str = ""
    type: type = float

    def __call__(self, value, name: str) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            isinstance(value, int) or math.isfinite(value))
        if not ok or value < 0 or (self.positive and value == 0):
            bound = "> 0" if self.positive else ">= 0"
            raise ConfigError(f"{name} must be a finite number {bound}; got {value!r}")
        if self.at_most is not None and value > self.at_most:
            unit = f" {self.unit}" if self.unit else ""
            raise ConfigError(f"{name} must be at most {self.at_most:g}{unit}; got {value!r}")
        if self.below is not None and value >= self.below:
            raise ConfigError(f"{name} must be below {self.below:g}; got {value!r}")


@dataclass(frozen=True)
class OneOf:
    """One of a few values."""

    values: tuple

    @property
    def type(self) -> type:
        return type(self.values[0])

    def __call__(self, value, name: str) -> None:
        if value not in self.values:
            raise ConfigError(f"{name} must be one of {list(self.values)}; got {value!r}")


@dataclass(frozen=True)
class Boolean:
    """true or false."""

    type: type = bool

    def __call__(self, value, name: str) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false; got {value!r}")


@dataclass(frozen=True)
class Text:
    """A string, described in the message as `what`."""

    what: str
    type: type = str

    def __call__(self, value, name: str) -> None:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be {self.what}; got {value!r}")


@dataclass(frozen=True)
class Quantile:
    """0 (off) or a quantile strictly between 0 and 1."""

    type: type = float

    def __call__(self, value, name: str) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value == 0 or 0 < value < 1)
        if not ok:
            raise ConfigError(f"{name} must be 0 (off) or a quantile between 0 and 1, like 0.75; got {value!r}")


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_duration(text: str | float | int) -> float:
    """Seconds in a duration: a number of seconds, or amounts with units such as "30m", "2h",
    "1h30m", "90s". Raises ValueError for anything else (argparse turns that into one line)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    raw = str(text).strip().lower()
    try:
        return float(raw)
    except ValueError:
        pass
    parts = _DURATION.findall(raw)
    if not parts or _DURATION.sub("", raw).strip():
        raise ValueError(f"not a duration: {text!r} (expected seconds, or amounts like 30m, 2h, 1h30m, 90s)")
    return float(sum(float(n) * _UNITS[u] for n, u in parts))


@dataclass(frozen=True)
class Duration:
    """0 (none) or a positive number of seconds; written as seconds or with units ("30m",
    "2h"), which `convert` turns into seconds before the check."""

    type: Callable = parse_duration

    @staticmethod
    def convert(value, name: str) -> float:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a duration such as 30m, 2h or seconds; got {value!r}")
        try:
            return parse_duration(value)
        except ValueError:
            raise ConfigError(f"{name} must be a duration such as 30m, 2h, 1h30m or a number of seconds; "
                              f"got {value!r}") from None

    def __call__(self, value, name: str) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        if not ok:
            raise ConfigError(f"{name} must be 0 (none) or a duration such as 30m, 2h or seconds; got {value!r}")


Check = Callable[[Any, str], None]
