"""The search space: genes, their choices, genotypes and readable architecture names.

A genotype is a tuple of five choice indices, one per gene, in the order
filters, conv, activation, pooling, linear (the seed's encoding).
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nas4cnn.core.errors import ConfigError, GenotypeError

Genotype = tuple[int, ...]

GENES = ("filters", "conv", "activation", "pooling", "linear")
# The seed's activations, the default choices. Names are checked against the registry of
# activations where networks are built (`nas4cnn.nn.activations`, `nn.model.check_space_fits`).
DEFAULT_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softplus", "elu")

_CONV_RE = re.compile(r"k(\d+)(?:s(\d+))?(?:p(\d+))?")
_POOL_RE = re.compile(r"(avg|max)(?:pool)?(\d+)")
_NAME_RE = re.compile(r"conv(\d+)(k[0-9sp]+)-([a-z0-9_]+)-((?:avg|max)pool\d+)-fc(\d+)")


@dataclass(frozen=True)
class ConvChoice:
    kernel: int
    stride: int = 1
    padding: int | None = None

    def __post_init__(self) -> None:
        if self.padding is None:
            object.__setattr__(self, "padding", self.kernel // 2)

    @property
    def label(self) -> str:
        if self.stride == 1 and self.padding == self.kernel // 2:
            return f"k{self.kernel}"
        return f"k{self.kernel}s{self.stride}p{self.padding}"

    @classmethod
    def parse(cls, text: str) -> ConvChoice:
        m = _CONV_RE.fullmatch(text.strip().lower())
        if not m:
            raise ConfigError(
                f"space.conv: expected a choice like 'k3' or 'k5s1p2' (kernel, stride, padding); got {text!r}"
            )
        kernel = int(m.group(1))
        stride = int(m.group(2)) if m.group(2) else 1
        padding = int(m.group(3)) if m.group(3) else kernel // 2
        if kernel < 1 or stride < 1 or padding < 0:
            raise ConfigError(f"space.conv: kernel and stride must be >= 1 and padding >= 0; got {text!r}")
        return cls(kernel, stride, padding)


@dataclass(frozen=True)
class PoolChoice:
    kind: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.kind}pool{self.size}"

    @property
    def is_identity(self) -> bool:
        return self.size == 1

    @classmethod
    def parse(cls, text: str) -> PoolChoice:
        m = _POOL_RE.fullmatch(text.strip().lower())
        if not m or int(m.group(2)) < 1:
            raise ConfigError(
                f"space.pooling: expected a choice like 'avg2' or 'max1' (kind avg|max, size >= 1); got {text!r}"
            )
        return cls(m.group(1), int(m.group(2)))


@dataclass(frozen=True)
class Architecture:
    """One network of the space, decoded from a genotype."""

    filters: int
    conv: ConvChoice
    activation: str
    pooling: PoolChoice
    linear: int

    @property
    def name(self) -> str:
        return f"conv{self.filters}{self.conv.label}-{self.activation}-{self.pooling.label}-fc{self.linear}"

    def to_dict(self) -> dict:
        return {
            "filters": self.filters,
            "conv": {"kernel": self.conv.kernel, "stride": self.conv.stride, "padding": self.conv.padding},
            "activation": self.activation,
            "pooling": {"kind": self.pooling.kind, "size": self.pooling.size},
            "linear": self.linear,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Architecture:
        return cls(
            filters=int(d["filters"]),
            conv=ConvChoice(**d["conv"]),
            activation=str(d["activation"]),
            pooling=PoolChoice(**d["pooling"]),
            linear=int(d["linear"]),
        )


@dataclass(frozen=True)
class SearchSpace:
    """Lists of choices for each gene. Build with `SearchSpace.from_lists` to validate."""

    filters: tuple[int, ...] = (8, 16, 32)
    conv: tuple[ConvChoice, ...] = (ConvChoice(3, 1, 1), ConvChoice(5, 1, 2))
    activation: tuple[str, ...] = DEFAULT_ACTIVATIONS
    pooling: tuple[PoolChoice, ...] = (
        PoolChoice("avg", 2),
        PoolChoice("max", 2),
        PoolChoice("avg", 1),
        PoolChoice("max", 1),
    )
    linear: tuple[int, ...] = tuple(range(10, 101, 10))

    @classmethod
    def from_lists(
        cls,
        filters: Sequence[int] | None = None,
        conv: Sequence[str] | None = None,
        activation: Sequence[str] | None = None,
        pooling: Sequence[str] | None = None,
        linear: Sequence[int] | None = None,
    ) -> SearchSpace:
        default = cls()
        space = cls(
            filters=default.filters if filters is None else tuple(_positive_ints("space.filters", filters)),
            conv=default.conv if conv is None
            else tuple(ConvChoice.parse(_string("space.conv", c)) for c in _list("space.conv", conv)),
            activation=default.activation
            if activation is None
            else tuple(_string("space.activation", a).strip().lower() for a in _list("space.activation", activation)),
            pooling=default.pooling
            if pooling is None
            else tuple(PoolChoice.parse(_string("space.pooling", p)) for p in _list("space.pooling", pooling)),
            linear=default.linear if linear is None else tuple(_positive_ints("space.linear", linear)),
        )
        for gene in GENES:
            values = space.choices(gene)
            if not values:
                raise ConfigError(f"space.{gene}: expected at least one choice; got an empty list")
            if len(set(values)) != len(values):
                raise ConfigError(f"space.{gene}: choices must be distinct; got {list(space.labels(gene))}")
        return space

    @property
    def genes(self) -> tuple[str, ...]:
        return GENES

    def choices(self, gene: str) -> tuple:
        return getattr(self, gene)

    def labels(self, gene: str) -> tuple[str, ...]:
        return tuple(_label(c) for c in self.choices(gene))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.choices(g)) for g in GENES)

    @property
    def size(self) -> int:
        return math.prod(self.sizes)

    @property
    def n_networks(self) -> int:
        """Distinct networks (canonical genotypes): the poolings of size 1 are one."""
        return self.size // len(self.pooling) * distinct_pools(self.pooling)

    def to_dict(self) -> dict:
        return {gene: [c if isinstance(c, (int, str)) else c.label for c in self.choices(gene)] for gene in GENES}

    def validate(self, genotype: Sequence[int], what: str = "genotype") -> Genotype:
        if len(genotype) != len(GENES):
            raise GenotypeError(
                f"{what}: expected {len(GENES)} genes ({', '.join(GENES)}); got {len(genotype)} in {list(genotype)}"
            )
        for gene, index, n in zip(GENES, genotype, self.sizes):
            if not isinstance(index, numbers.Integral) or not 0 <= index < n:  # numpy integers too
                raise GenotypeError(
                    f"{what}: gene '{gene}' must be an index in 0..{n - 1}; got {index!r} in {list(genotype)}"
                )
        return tuple(int(i) for i in genotype)

    def decode(self, genotype: Sequence[int]) -> Architecture:
        g = self.validate(genotype)
        return Architecture(*(self.choices(gene)[i] for gene, i in zip(GENES, g)))

    def name(self, genotype: Sequence[int]) -> str:
        return self.decode(genotype).name

    def parse(self, text: str, what: str = "--genotype") -> Genotype:
        """Accept '2,0,0,1,6' (indices) or 'conv32k3-relu-maxpool2-fc70' (a readable name)."""
        text = text.strip()
        if re.fullmatch(r"[\d\s,\-]+", text):
            try:
                indices = [int(p) for p in text.split(",")]
            except ValueError:
                raise GenotypeError(
                    f"{what}: expected comma-separated gene indices like '2,0,0,1,6'; got {text!r}"
                ) from None
            return self.validate(indices, what)
        m = _NAME_RE.fullmatch(text.lower())
        if not m:
            raise GenotypeError(
                f"{what}: expected indices like '2,0,0,1,6' or a name like "
                f"'{self.name((0,) * len(GENES))}'; got {text!r}"
            )
        parts = dict(zip(GENES, m.groups()))
        genotype = []
        for gene in GENES:
            labels = self.labels(gene)
            label = parts[gene]
            if gene == "conv":
                label = ConvChoice.parse(label).label
            if label not in labels:
                raise GenotypeError(f"{what}: {gene} '{label}' is not in the space {list(labels)}; got {text!r}")
            genotype.append(labels.index(label))
        return tuple(genotype)

    def canonical(self, genotype: Sequence[int]) -> Genotype:
        """The representative of the genotypes that build the same network: pooling of size 1
        is the identity whether 'avg' or 'max', so it maps to the first such choice."""
        g = list(self.validate(genotype))
        i = GENES.index("pooling")
        if self.pooling[g[i]].is_identity:
            g[i] = next(k for k, p in enumerate(self.pooling) if p.is_identity)
        return tuple(g)

    def random_genotype(self, rng) -> Genotype:
        """A uniformly drawn genotype; `rng` is a numpy Generator."""
        return tuple(int(rng.integers(n)) for n in self.sizes)

    def all_genotypes(self) -> Iterator[Genotype]:
        return itertools.product(*(range(n) for n in self.sizes))


def distinct_pools(pools: Sequence[PoolChoice]) -> int:
    """How many different layers `pools` are: every pooling of size 1 is the same (none)."""
    return sum(1 for p in pools if not p.is_identity) + any(p.is_identity for p in pools)


def _label(choice) -> str:
    return str(choice) if isinstance(choice, (int, str)) else choice.label


def _string(key: str, value) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected strings; got {value!r}")
    return value


def _list(key: str, values) -> list:
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{key}: expected a list of names; got {values!r}")
    return list(values)


def _positive_ints(key: str, values: Sequence) -> list[int]:
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{key}: expected a list of positive integers; got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"{key}: expected a list of positive integers; got {list(values)}")
    return list(values)
