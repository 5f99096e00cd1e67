"""The search spaces a run can use: the seed's (the default), the built-in deep `compact`, or
one described in TOML; and reading a `[space]` table into the right kind.

A `[space]` table (in a config file or a run's stored config) is one of:
- the seed's genes (`filters`, `conv`, `activation`, `pooling`, `linear`; any left out keep
  the seed's choices): a `SearchSpace`;
- `name = "compact"` (or "seed") alone: a built-in space;
- a deep space's description, with `[[space.block]]` tables: a `DeepSpace` (see
  `core.deep_space`).
`--space NAME` names a built-in space; `--space FILE.toml` reads a file whose top level (or
`[space]` table) is such a description.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from nas4cnn.core.deep_space import BlockSpace, DeepSpace
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import GENES, PoolChoice, SearchSpace
from nas4cnn.core.toml_file import read_toml

Space = SearchSpace | DeepSpace

_NONE, _MAX2, _AVG2 = PoolChoice("max", 1), PoolChoice("max", 2), PoolChoice("avg", 2)
_ACTS = ("relu", "elu")

# Two to four blocks of growing width, each with its kernel, stride, pooling, batch norm and
# (after the first) full or separable convolution; a global-average-pooling or flatten head,
# dropout and up to one hidden layer. Networks above 100,000 parameters are not trained.
COMPACT = DeepSpace(
    label="compact",
    blocks=(
        BlockSpace(filters=(16, 24, 32), kernel=(3, 5), stride=(1,), activation=_ACTS, pool=(_NONE, _MAX2),
                   batchnorm=(True, False), conv=("full",)),
        BlockSpace(filters=(32, 48, 64), kernel=(3, 5), stride=(1, 2), activation=_ACTS, pool=(_NONE, _MAX2),
                   batchnorm=(True, False), conv=("full", "separable")),
        BlockSpace(filters=(48, 64, 96), kernel=(3, 5), stride=(1, 2), activation=_ACTS, pool=(_NONE, _MAX2),
                   batchnorm=(True, False), conv=("full", "separable")),
        BlockSpace(filters=(64, 96, 128), kernel=(3,), stride=(1, 2), activation=_ACTS, pool=(_NONE, _AVG2),
                   batchnorm=(True, False), conv=("full", "separable")),
    ),
    depth=(2, 3, 4),
    dropout=(0.0, 0.1, 0.25),
    head=("gap", "flatten"),
    hidden=(0, 1),
    width=(32, 64, 128),
    max_params=100_000,
)

BUILTIN: dict[str, Space] = {"seed": SearchSpace(), "compact": COMPACT}


def space_from_dict(table: dict, source: str = "config") -> Space:
    """The space a `[space]` table of `source` describes (see the module docstring); checked."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [space] must be a table; got {table!r}")
    if "block" in table:
        return DeepSpace.from_dict(table, f"{source}: space")
    if set(table) == {"name"}:
        return builtin(table["name"], f"{source}: space.name")
    unknown = [k for k in table if k not in GENES]
    if unknown:
        close = difflib.get_close_matches(unknown[0], [*GENES, "name", "block"], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{source}: unknown key '{unknown[0]}' in [space]{hint} (a seed-like space has "
                          f"{', '.join(GENES)}; a deep one [[space.block]] tables; a built-in one only name)")
    return SearchSpace.from_lists(**table)


def builtin(name, what: str = "--space") -> Space:
    if name not in BUILTIN:
        raise ConfigError(f"{what}: expected a built-in space ({', '.join(BUILTIN)}) or a .toml file; got {name!r}")
    return BUILTIN[name]


def load_space(text: str, what: str = "--space") -> Space:
    """`--space`: a built-in space's name, or a TOML file describing one."""
    if text in BUILTIN:
        return BUILTIN[text]
    path = Path(text)
    if path.suffix != ".toml":
        return builtin(text, what)
    raw = read_toml(path, what)
    table = raw["space"] if set(raw) == {"space"} else raw
    return space_from_dict(table, f"{what} {text}")


def space_name(space: Space) -> str:
    """How a space is named in messages: its label, or "seed" (or "custom") for seed-like ones."""
    if isinstance(space, DeepSpace):
        return space.label
    return "seed" if space == SearchSpace() else "custom"


def describe(space: Space) -> dict:
    """What `nas4cnn space` shows of a space: its name, each gene's choices, its size (in
    genotypes) and, for a deep space, its parameter limit."""
    genes = {g: list(space.labels(g)) for g in space.genes} if isinstance(space, DeepSpace) else space.to_dict()
    out = {"space": space_name(space), "genes": genes, "size": space.size}
    if isinstance(space, DeepSpace) and space.max_params:
        out["max_params"] = space.max_params
    return out
