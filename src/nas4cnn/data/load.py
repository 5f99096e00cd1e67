"""Loading the data set a run's ``[data]`` settings name, through the registry of sources."""

from __future__ import annotations

import logging

from nas4cnn.core.config import DataConfig, RunConfig, validate
from nas4cnn.data.dataset import DataSet
from nas4cnn.data.sources import OPTIONAL_SETTINGS, DataSource, find_source

log = logging.getLogger(__name__)


def load_dataset(cfg: DataConfig | str = "digits") -> DataSet:
    """The data set a run's [data] settings name (or just a ``--dataset`` value), loaded and checked once.

    - ``digits``: scikit-learn's 8x8 digits with the seed's fixed split (`sources.digits`);
    - ``mnist``, ``fashion-mnist``, ``kmnist``: IDX files (gzipped or not) in ``data_dir`` or the
      cache folder; ``cifar10``: its Python batches folder (`sources.idx`, `sources.cifar`);
      ``download`` fetches missing files from the official sources, checksum-verified;
    - ``folder:PATH``: one sub-folder of PNG/JPEG images per class (`sources.folder`);
    - ``npz:PATH``: arrays x, y and optionally x_test, y_test, class_names (`sources.npz`).

    Apart from digits, the validation split is a stratified ``val_fraction`` of the training
    images, seeded by ``split_seed``. Pixel values are kept raw (see `DataSet.pixel_max`).
    Settings the source does not read are named in a warning. Bad settings are a ConfigError
    (the same checks and messages as a run's config); unreadable data a DataError.
    """
    cfg = DataConfig(dataset=cfg) if isinstance(cfg, str) else cfg
    validate(RunConfig(data=cfg))
    source = find_source(cfg.dataset)
    _warn_unused(cfg, source)
    data = source.load(cfg)
    log.info("data set %r: %s images, %d classes; %d train, %d validation, %d test",
             data.name, "x".join(map(str, data.input_shape)), data.num_classes, len(data.train), len(data.val),
             len(data.test))
    return data


def _warn_unused(cfg: DataConfig, source: DataSource) -> None:
    """Settings that the chosen data set does not use are named, not silently dropped."""
    default = DataConfig()
    unused = [k for k in OPTIONAL_SETTINGS if k not in source.settings and getattr(cfg, k) != getattr(default, k)]
    if unused:
        log.warning("--dataset %s does not use %s; ignored", cfg.dataset,
                    ", ".join(f"--{k.replace('_', '-')}" for k in unused))
