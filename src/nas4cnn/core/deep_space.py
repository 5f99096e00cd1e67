"""Deeper search spaces: 1…D convolution blocks, each with its own choices, then a head.

A network of a deep space is

    block 1 -> … -> block d -> head (global average pooling, or flatten)
            -> [dropout -> Linear -> f] × hidden -> dropout -> Linear -> log-softmax

where block i is a convolution (full, or depthwise-separable: a k×k depthwise convolution
then a 1×1 pointwise one) with its filters, kernel (padding k // 2) and stride, batch norm
on or off, its activation f, then pooling (avg or max of a size; size 1 is none). The hidden
layers take the last block's activation. `DeepSpace` lists, per block position, the choices
for each of these, and the choices of depth, dropout, head, hidden-layer count and widths.

Genotypes stay fixed-length tuples of choice indices, one per gene (`DeepSpace.genes`):
depth, then the seven genes of every block position, then dropout, head, hidden and one
width per possible hidden layer. Genes of blocks beyond the depth, and widths beyond the
hidden count, are inactive: `canonical` sets them to 0, so genotypes that build the same
network share one evaluation. Every strategy works on such genotypes unchanged.

Readable names join the blocks and the head with '+':
`conv32k3-relu-bn-maxpool2+sep64k3s2-elu+gap-drop25-fc64` (`sep`: separable; `s2`: stride 2;
`drop25`: dropout 0.25; one `-fcW` per hidden layer). `parse` accepts names and indices.
Parameter counts, multiply-accumulates and shapes are in `core.deep_params`.
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nas4cnn.core.errors import ConfigError, GenotypeError
from nas4cnn.core.space import Genotype, PoolChoice, distinct_pools

BLOCK_GENES = ("filters", "kernel", "stride", "activation", "pool", "batchnorm", "conv")
CONV_KINDS = ("full", "separable")
HEADS = ("gap", "flatten")
MAX_HIDDEN = 2

_BLOCK_RE = re.compile(r"(conv|sep)(\d+)k(\d+)(?:s(\d+))?-([a-z0-9_]+?)(-bn)?(?:-((?:avg|max)pool\d+))?")
_HEAD_RE = re.compile(r"(gap|flat)((?:-drop\d+)?)((?:-fc\d+)*)")


@dataclass(frozen=True)
class Block:
    """One convolution block of a network."""

    filters: int
    kernel: int
    stride: int
    activation: str
    pool: PoolChoice
    batchnorm: bool
    separable: bool

    @property
    def padding(self) -> int:
        return self.kernel // 2

    @property
    def name(self) -> str:
        stride = f"s{self.stride}" if self.stride != 1 else ""
        bn = "-bn" if self.batchnorm else ""
        pool = "" if self.pool.is_identity else f"-{self.pool.label}"
        return f"{'sep' if self.separable else 'conv'}{self.filters}k{self.kernel}{stride}-{self.activation}{bn}{pool}"

    def to_dict(self) -> dict:
        return {"filters": self.filters, "kernel": self.kernel, "stride": self.stride, "activation": self.activation,
                "pool": {"kind": self.pool.kind, "size": self.pool.size}, "batchnorm": self.batchnorm,
                "separable": self.separable}

    @classmethod
    def from_dict(cls, d: dict) -> Block:
        return cls(int(d["filters"]), int(d["kernel"]), int(d["stride"]), str(d["activation"]),
                   PoolChoice(**d["pool"]), bool(d["batchnorm"]), bool(d["separable"]))


@dataclass(frozen=True)
class DeepArchitecture:
    """One network of a deep space, decoded from a genotype."""

    blocks: tuple[Block, ...]
    dropout: float
    head: str  # "gap" or "flatten"
    hidden: tuple[int, ...]  # the hidden linear layers' widths (0 to MAX_HIDDEN of them)

    @property
    def activation(self) -> str:
        """The hidden layers' activation: the last block's."""
        return self.blocks[-1].activation

    @property
    def name(self) -> str:
        head = "gap" if self.head == "gap" else "flat"
        drop = f"-drop{round(self.dropout * 100)}" if self.dropout else ""
        return "+".join([*(b.name for b in self.blocks), head + drop + "".join(f"-fc{w}" for w in self.hidden)])

    def to_dict(self) -> dict:
        return {"kind": "deep", "blocks": [b.to_dict() for b in self.blocks], "dropout": self.dropout,
                "head": self.head, "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict) -> DeepArchitecture:
        return cls(tuple(Block.from_dict(b) for b in d["blocks"]), float(d["dropout"]), str(d["head"]),
                   tuple(int(w) for w in d["hidden"]))


@dataclass(frozen=True)
class BlockSpace:
    """The choices of one block position."""

    filters: tuple[int, ...] = (16, 32)
    kernel: tuple[int, ...] = (3,)
    stride: tuple[int, ...] = (1,)
    activation: tuple[str, ...] = ("relu",)
    pool: tuple[PoolChoice, ...] = (PoolChoice("max", 2), PoolChoice("max", 1))
    batchnorm: tuple[bool, ...] = (True,)
    conv: tuple[str, ...] = ("full",)

    def labels(self, gene: str) -> tuple[str, ...]:
        values = getattr(self, gene)
        if gene == "pool":
            return tuple("none" if p == PoolChoice("max", 1) else f"{p.kind}{p.size}" for p in values)
        if gene == "batchnorm":
            return tuple("on" if v else "off" for v in values)
        return tuple(str(v) for v in values)

    @classmethod
    def from_dict(cls, d: dict, where: str) -> BlockSpace:
        known = set(BLOCK_GENES)
        for key in d:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r}; expected some of {list(BLOCK_GENES)}")
        default = cls()
        pick = lambda key, parse: default_or(d, key, getattr(default, key), parse, where)  # noqa: E731
        return cls(
            filters=pick("filters", _positive_int),
            kernel=pick("kernel", _odd_kernel),
            stride=pick("stride", _positive_int),
            activation=pick("activation", _name),
            pool=pick("pool", _pool),
            batchnorm=pick("batchnorm", _switch),
            conv=pick("conv", _conv_kind),
        )

    def to_dict(self) -> dict:
        return {gene: list(self.labels(gene)) if gene in ("pool", "batchnorm") else list(getattr(self, gene))
                for gene in BLOCK_GENES}


@dataclass(frozen=True)
class DeepSpace:
    """Choices for networks of 1…len(blocks) convolution blocks (see the module docstring).
    Build from a TOML table with `DeepSpace.from_dict`, which checks every choice."""

    label: str  # the space's own name ("compact", or a user's)
    blocks: tuple[BlockSpace, ...]
    depth: tuple[int, ...]
    dropout: tuple[float, ...] = (0.0,)
    head: tuple[str, ...] = ("gap",)
    hidden: tuple[int, ...] = (0,)
    width: tuple[int, ...] = (64,)
    max_params: int = 0  # networks with more parameters are not trained (0: no limit)

    # --- the genes

    @property
    def genes(self) -> tuple[str, ...]:
        per_block = tuple(f"block{i + 1}.{g}" for i in range(len(self.blocks)) for g in BLOCK_GENES)
        widths = tuple(f"width{j + 1}" for j in range(max(self.hidden)))
        return ("depth", *per_block, "dropout", "head", "hidden", *widths)

    def choices(self, gene: str) -> tuple:
        if gene.startswith("block"):
            i, g = gene[len("block"):].split(".")
            return getattr(self.blocks[int(i) - 1], g)
        if gene.startswith("width"):
            return self.width
        return getattr(self, gene)

    def labels(self, gene: str) -> tuple[str, ...]:
        if gene.startswith("block"):
            i, g = gene[len("block"):].split(".")
            return self.blocks[int(i) - 1].labels(g)
        return tuple(str(c) for c in self.choices(gene))

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(self.choices(g)) for g in self.genes)

    @property
    def size(self) -> int:
        """Genotypes (not distinct networks: inactive genes multiply it)."""
        return math.prod(self.sizes)

    @property
    def n_networks(self) -> int:
        """Distinct networks (canonical genotypes), counted without listing them: per depth,
        the product of its blocks' distinct choices (the poolings of size 1 are one), times
        dropout, head and, per hidden count, its widths' choices."""
        def block(b: BlockSpace) -> int:
            return len(b.filters) * len(b.kernel) * len(b.stride) * len(b.activation) * distinct_pools(b.pool) \
                * len(b.batchnorm) * len(b.conv)

        bodies = sum(math.prod(block(b) for b in self.blocks[:d]) for d in self.depth)
        heads = len(self.dropout) * len(self.head) * sum(len(self.width) ** h for h in self.hidden)
        return bodies * heads

    @property
    def activation(self) -> tuple[str, ...]:
        """Every activation name the space uses (checked against the registry before work)."""
        return tuple(dict.fromkeys(a for b in self.blocks for a in b.activation))

    # --- genotypes

    def validate(self, genotype: Sequence[int], what: str = "genotype") -> Genotype:
        genes = self.genes
        if len(genotype) != len(genes):
            raise GenotypeError(f"{what}: expected {len(genes)} genes of the space {self.label!r} (depth, "
                                f"{len(BLOCK_GENES)} per block, dropout, head, hidden, widths); got {len(genotype)}")
        for gene, index, n in zip(genes, genotype, self.sizes):
            if not isinstance(index, numbers.Integral) or not 0 <= index < n:
                raise GenotypeError(f"{what}: gene '{gene}' must be an index in 0..{n - 1}; got {index!r}")
        return tuple(int(i) for i in genotype)

    def _index(self) -> dict[str, int]:
        return {g: k for k, g in enumerate(self.genes)}

    def decode(self, genotype: Sequence[int]) -> DeepArchitecture:
        g = self.validate(genotype)
        at = self._index()
        pick = lambda gene: self.choices(gene)[g[at[gene]]]  # noqa: E731
        depth = pick("depth")
        blocks = []
        for i in range(1, depth + 1):
            b = {name: pick(f"block{i}.{name}") for name in BLOCK_GENES}
            blocks.append(Block(b["filters"], b["kernel"], b["stride"], b["activation"], b["pool"], b["batchnorm"],
                                b["conv"] == "separable"))
        hidden = tuple(pick(f"width{j + 1}") for j in range(pick("hidden")))
        return DeepArchitecture(tuple(blocks), pick("dropout"), pick("head"), hidden)

    def name(self, genotype: Sequence[int]) -> str:
        return self.decode(genotype).name

    def canonical(self, genotype: Sequence[int]) -> Genotype:
        """The representative of the genotypes that build the same network: inactive genes
        (blocks beyond the depth, widths beyond the hidden count) at 0, and pooling of size 1
        (none, whether avg or max) at its first such choice."""
        g = list(self.validate(genotype))
        at = self._index()
        depth = self.depth[g[at["depth"]]]
        for i in range(1, len(self.blocks) + 1):
            if i > depth:
                for name in BLOCK_GENES:
                    g[at[f"block{i}.{name}"]] = 0
                continue
            pools = self.blocks[i - 1].pool
            k = at[f"block{i}.pool"]
            if pools[g[k]].is_identity:
                g[k] = next(j for j, p in enumerate(pools) if p.is_identity)
        hidden = self.hidden[g[at["hidden"]]]
        for j in range(hidden, max(self.hidden)):
            g[at[f"width{j + 1}"]] = 0
        return tuple(g)

    def parse(self, text: str, what: str = "--genotype") -> Genotype:
        """Accept comma-separated gene indices or a readable name (see the module docstring);
        a name's inactive genes are 0."""
        text = text.strip()
        if re.fullmatch(r"[\d\s,\-]+", text):
            try:
                return self.validate([int(p) for p in text.split(",")], what)
            except ValueError:
                raise GenotypeError(f"{what}: expected comma-separated gene indices; got {text!r}") from None
        parts = text.lower().split("+")
        head = _HEAD_RE.fullmatch(parts[-1]) if len(parts) >= 2 else None
        blocks = [_BLOCK_RE.fullmatch(p) for p in parts[:-1]]
        if head is None or not all(blocks):
            example = self.decode(tuple([0] * len(self.genes))).name
            raise GenotypeError(f"{what}: expected indices or a name of the space {self.label!r} like {example!r}; "
                                f"got {text!r}")
        at = self._index()
        g = [0] * len(self.genes)

        def put(gene: str, value, label: str) -> None:
            values = self.choices(gene)
            if value not in values:
                raise GenotypeError(f"{what}: {gene} {label} is not in the space {self.label!r} "
                                    f"{list(self.labels(gene))}; got {text!r}")
            g[at[gene]] = values.index(value)

        put("depth", len(blocks), str(len(blocks)))
        for i, m in enumerate(blocks, 1):
            kind, filters, kernel, stride, act, bn, pool = m.groups()
            put(f"block{i}.filters", int(filters), filters)
            put(f"block{i}.kernel", int(kernel), kernel)
            put(f"block{i}.stride", int(stride or 1), stride or "1")
            put(f"block{i}.activation", act, act)
            put(f"block{i}.batchnorm", bool(bn), "on" if bn else "off")
            put(f"block{i}.conv", "separable" if kind == "sep" else "full", "separable" if kind == "sep" else "full")
            pools = self.blocks[i - 1].pool
            if pool is None:
                found = next((j for j, p in enumerate(pools) if p.is_identity), None)
            else:
                p = PoolChoice.parse(pool)
                found = next((j for j, q in enumerate(pools) if q == p), None)
            if found is None:
                raise GenotypeError(f"{what}: block{i}.pool {pool or 'none'} is not in the space {self.label!r} "
                                    f"{list(self.blocks[i - 1].labels('pool'))}; got {text!r}")
            g[at[f"block{i}.pool"]] = found
        kind, drop, fcs = head.groups()
        put("head", "gap" if kind == "gap" else "flatten", kind)
        dropout = int(drop[len("-drop"):]) / 100 if drop else 0.0
        matches = [d for d in self.dropout if round(d * 100) == round(dropout * 100)]
        if not matches:
            raise GenotypeError(f"{what}: dropout {dropout:g} is not in the space {self.label!r} "
                                f"{list(self.dropout)}; got {text!r}")
        g[at["dropout"]] = self.dropout.index(matches[0])
        widths = [int(w) for w in re.findall(r"\d+", fcs)]
        put("hidden", len(widths), str(len(widths)))
        for j, w in enumerate(widths, 1):
            put(f"width{j}", w, str(w))
        return self.canonical(g)

    def random_genotype(self, rng) -> Genotype:
        """A uniformly drawn genotype; `rng` is a numpy Generator."""
        return tuple(int(rng.integers(n)) for n in self.sizes)

    def all_genotypes(self) -> Iterator[Genotype]:
        """Every genotype, lazily (a deep space is usually far too large to list whole)."""
        return itertools.product(*(range(n) for n in self.sizes))

    # --- descriptions

    def to_dict(self) -> dict:
        """The space as a TOML [space] table (what `from_dict` reads back)."""
        return {"name": self.label, "depth": list(self.depth), "dropout": list(self.dropout), "head": list(self.head),
                "hidden": list(self.hidden), "width": list(self.width), "max_params": self.max_params,
                "block": [b.to_dict() for b in self.blocks]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "space") -> DeepSpace:
        """A deep space from a TOML table: `block` (a list of tables, one per block position,
        each with any of BLOCK_GENES as lists of choices), and `depth`, `dropout`, `head`,
        `hidden`, `width`, `max_params`, `name` (see the README); every value is checked."""
        known = {"name", "block", "depth", "dropout", "head", "hidden", "width", "max_params"}
        for key in d:
            if key not in known:
                raise ConfigError(f"{where}: unknown key {key!r} for a deep space; expected some of {sorted(known)}")
        raw_blocks = d.get("block")
        if not isinstance(raw_blocks, list) or not raw_blocks or not all(isinstance(b, dict) for b in raw_blocks):
            raise ConfigError(f"{where}.block: expected one or more [[{where}.block]] tables; got {raw_blocks!r}")
        blocks = tuple(BlockSpace.from_dict(b, f"{where}.block[{i + 1}]") for i, b in enumerate(raw_blocks))
        depth = default_or(d, "depth", (len(blocks),), _positive_int, where)
        if max(depth) > len(blocks):
            raise ConfigError(f"{where}.depth: at most {len(blocks)} (the blocks described); got {list(depth)}")
        hidden = default_or(d, "hidden", (0,), _hidden, where)
        limit = d.get("max_params", 0)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(f"{where}.max_params: expected a parameter count >= 0 (0: no limit); got {limit!r}")
        name = d.get("name", "custom")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}.name: expected a name; got {name!r}")
        return cls(label=name.strip(), blocks=blocks, depth=depth,
                   dropout=default_or(d, "dropout", (0.0,), _dropout, where),
                   head=default_or(d, "head", ("gap",), _head, where), hidden=hidden,
                   width=default_or(d, "width", (64,), _positive_int, where), max_params=limit)


# --- checking a TOML table's choices

def default_or(d: dict, key: str, default: tuple, parse, where: str) -> tuple:
    """The list `d[key]` parsed item by item (distinct, at least one), or `default`."""
    if key not in d:
        return default
    values = d[key]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{key}: expected a non-empty list of choices; got {values!r}")
    parsed = tuple(parse(v, f"{where}.{key}") for v in values)
    if len(set(parsed)) != len(parsed):
        raise ConfigError(f"{where}.{key}: choices must be distinct; got {values!r}")
    return parsed


def _positive_int(v, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{key}: expected positive integers; got {v!r}")
    return v


def _odd_kernel(v, key: str) -> int:
    if _positive_int(v, key) % 2 == 0:
        raise ConfigError(f"{key}: expected odd kernel sizes (padding k // 2 keeps the size); got {v!r}")
    return v


def _name(v, key: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{key}: expected names; got {v!r}")
    return v.strip().lower()


def _pool(v, key: str) -> PoolChoice:
    text = _name(v, key)
    if text == "none":
        return PoolChoice("max", 1)
    try:
        return PoolChoice.parse(text)
    except ConfigError:
        raise ConfigError(f"{key}: expected 'none' or a pooling like 'max2' or 'avg2'; got {v!r}") from None


def _switch(v, key: str) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("on", "off"):
        return v == "on"
    raise ConfigError(f"{key}: expected true/false (or 'on'/'off'); got {v!r}")


def _conv_kind(v, key: str) -> str:
    if v not in CONV_KINDS:
        raise ConfigError(f"{key}: expected some of {list(CONV_KINDS)}; got {v!r}")
    return v


def _dropout(v, key: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ConfigError(f"{key}: expected dropout rates in [0, 1); got {v!r}")
    if abs(v * 100 - round(v * 100)) > 1e-9:
        raise ConfigError(f"{key}: expected dropout rates in whole percent (like 0.25); got {v!r}")
    return float(v)


def _head(v, key: str) -> str:
    if v not in HEADS:
        raise ConfigError(f"{key}: expected some of {list(HEADS)}; got {v!r}")
    return v


def _hidden(v, key: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_HIDDEN:
        raise ConfigError(f"{key}: expected hidden-layer counts 0..{MAX_HIDDEN}; got {v!r}")
    return v
