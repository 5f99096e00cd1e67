"""The data sources, looked up by name: one registry entry for each ``--dataset`` spelling.

A named data set (``digits``, ``mnist``, ...) or a kind of the user's own files spelled
``KIND:PATH`` (``folder:PATH``, ``npz:PATH``) has one `DataSource`: its one-line description
(for help texts), the module here whose ``load(cfg) -> DataSet`` reads it, and the ``[data]``
settings it reads (the others are named in a warning when set: `data.load.load_dataset`).

Modules: `digits` (scikit-learn's 8x8 digits), `idx` (MNIST, Fashion-MNIST, KMNIST from IDX
files), `cifar` (CIFAR-10 from its Python batches), `folder` (one sub-folder of images per
class), `npz` (NumPy arrays); `download` (cache folders and checksum-verified downloads of the
official files) and `splits` (the seeded, stratified hold-out splits) serve them.

Importing this package imports no loader (and no torch): a source's module is imported when it loads.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas4cnn.core.config import setting_name
from nas4cnn.core.errors import ConfigError

if TYPE_CHECKING:
    from nas4cnn.core.config import DataConfig
    from nas4cnn.data.dataset import DataSet

# The [data] settings that only some sources read, in the order a warning names them.
OPTIONAL_SETTINGS = ("data_dir", "download", "image_size", "channels", "val_fraction", "split_seed")
_OFFICIAL = ("data_dir", "download", "val_fraction", "split_seed")  # named data sets in files, with a hold-out


@dataclass(frozen=True)
class DataSource:
    """One ``--dataset`` choice."""

    name: str  # the --dataset value; with `takes_path`, the KIND of KIND:PATH
    description: str  # one line, for help texts
    module: str  # its module in nas4cnn.data.sources, with load(cfg: DataConfig) -> DataSet
    takes_path: bool = False
    settings: tuple[str, ...] = ()  # those of OPTIONAL_SETTINGS it reads
    mirrors: bool = False  # its classes look alike mirrored left-right: --aug-flip auto mirrors its images

    @property
    def spelling(self) -> str:
        """How the user writes it: the name, or KIND:PATH."""
        return f"{self.name}:PATH" if self.takes_path else self.name

    def load(self, cfg: DataConfig) -> DataSet:
        """The data set `cfg` names, read by this source's module (imported now)."""
        return importlib.import_module(f"{__name__}.{self.module}").load(cfg)


SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource("digits", "scikit-learn's 8x8 digits, the original project's split; the default", "digits"),
        DataSource("mnist", "MNIST handwritten digits, 28x28 grey, IDX files", "idx", settings=_OFFICIAL),
        DataSource("fashion-mnist", "Fashion-MNIST clothing, 28x28 grey, IDX files", "idx", settings=_OFFICIAL,
                   mirrors=True),
        DataSource("kmnist", "Kuzushiji-MNIST characters, 28x28 grey, IDX files", "idx", settings=_OFFICIAL),
        DataSource("cifar10", "CIFAR-10, 32x32 colour, its Python batches", "cifar", settings=_OFFICIAL,
                   mirrors=True),
        DataSource("folder", "one sub-folder of images per class", "folder", takes_path=True,
                   settings=("image_size", "channels", "val_fraction", "split_seed")),
        DataSource("npz", "arrays x, y", "npz", takes_path=True, settings=("val_fraction", "split_seed")),
    )
}


def source_names() -> tuple[str, ...]:
    """The named data sets, ``--dataset NAME`` (the KIND:PATH sources are `path_prefixes`)."""
    return tuple(s.name for s in SOURCES.values() if not s.takes_path)


def path_prefixes() -> tuple[str, ...]:
    """The prefixes of the user's own files, ``--dataset KIND:PATH``: 'folder:', 'npz:'."""
    return tuple(f"{s.name}:" for s in SOURCES.values() if s.takes_path)


def find_source(dataset: str) -> DataSource:
    """The source of a ``--dataset`` value; anything else is the ConfigError of `check_dataset`."""
    if isinstance(dataset, str):
        if dataset in SOURCES and not SOURCES[dataset].takes_path:
            return SOURCES[dataset]
        kind, sep, path = dataset.partition(":")
        if sep and path and kind in SOURCES and SOURCES[kind].takes_path:
            return SOURCES[kind]
    paths = " or ".join(s.spelling for s in SOURCES.values() if s.takes_path)
    raise ConfigError(f"{setting_name('data', 'dataset')} must be one of {list(source_names())} or {paths}; "
                      f"got {dataset!r}")


def mirrors(name: str) -> bool:
    """Whether the named data set's classes look alike mirrored left-right (False for the user's
    own files and any name that is not a named data set: mirroring them is the user's call)."""
    source = SOURCES.get(name)
    return source is not None and source.mirrors


def check_dataset(dataset: str) -> None:
    """A ConfigError naming the setting and the valid spellings unless `dataset` names a source."""
    find_source(dataset)


def dataset_help() -> str:
    """The ``--dataset`` help text: every spelling with its description."""
    parts = [f"{s.spelling} ({s.description})" for s in SOURCES.values()]
    return ", ".join(parts[:-1]) + " or " + parts[-1]
