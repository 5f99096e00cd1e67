"""Contract tests over every registered data source (the formats' details are in test_datasets.py)."""

import dataclasses
import importlib
import logging
import subprocess
import sys

import pytest
from test_datasets import write_cifar, write_folder, write_idx_set, write_npz

from nas4cnn.core.config import DataConfig, RunConfig, setting_name, validate
from nas4cnn.core.errors import ConfigError
from nas4cnn.data.load import load_dataset
from nas4cnn.data.sources import (
    OPTIONAL_SETTINGS,
    SOURCES,
    check_dataset,
    dataset_help,
    find_source,
    mirrors,
    path_prefixes,
    source_names,
)


def _idx(tmp_path, name):
    write_idx_set(tmp_path / name, n_train=30, n_test=10)
    return DataConfig(dataset=name, data_dir=str(tmp_path / name), val_fraction=0.34)


# A tiny data set in each source's format, as the `DataConfig` that names it.
FIXTURES = {
    "digits": lambda tmp_path: DataConfig(),
    "mnist": lambda tmp_path: _idx(tmp_path, "mnist"),
    "fashion-mnist": lambda tmp_path: _idx(tmp_path, "fashion-mnist"),
    "kmnist": lambda tmp_path: _idx(tmp_path, "kmnist"),
    "cifar10": lambda tmp_path: (write_cifar(tmp_path / "c", per_batch=4, n_test=10),
                                 DataConfig(dataset="cifar10", data_dir=str(tmp_path / "c"), val_fraction=0.5))[1],
    "folder": lambda tmp_path: (write_folder(tmp_path / "f", per_class=8),
                                DataConfig(dataset=f"folder:{tmp_path / 'f'}", image_size=8))[1],
    "npz": lambda tmp_path: (write_npz(tmp_path / "d.npz", n=24, n_test=8), DataConfig(dataset=f"npz:{tmp_path / 'd.npz'}"))[1],
}


def _spelling(source, path="/some/where"):
    return f"{source.name}:{path}" if source.takes_path else source.name


def test_every_source_has_a_fixture_here():
    assert set(FIXTURES) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_loads_a_checked_data_set_with_the_settings_it_reads(name, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NAS4CNN_DATA", str(tmp_path / "cache"))
    source = SOURCES[name]
    cfg = FIXTURES[name](tmp_path)
    assert find_source(cfg.dataset) is source
    with caplog.at_level(logging.WARNING):
        data = load_dataset(cfg)
        again = load_dataset(cfg)
    assert "does not use" not in caplog.text  # a fixture sets only settings its source reads
    assert data.name == cfg.dataset and data.num_classes >= 2 and len(data.class_names) == data.num_classes
    assert min(len(data.train), len(data.val), len(data.test)) > 0
    assert data.val.x.shape[1:] == data.test.x.shape[1:] == data.train.x.shape[1:]
    assert data.train.x.equal(again.train.x) and data.val.y.equal(again.val.y)  # deterministic


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_source_declares_its_module_and_settings(name):
    source = SOURCES[name]
    assert callable(importlib.import_module(f"nas4cnn.data.sources.{source.module}").load)
    assert set(source.settings) <= set(OPTIONAL_SETTINGS)
    assert source.description and "\n" not in source.description
    assert source.spelling in dataset_help()


def test_optional_settings_are_data_settings():
    assert set(OPTIONAL_SETTINGS) <= {f.name for f in dataclasses.fields(DataConfig)} - {"dataset"}


def test_names_and_prefixes_partition_the_registry():
    assert set(source_names()) | {p.rstrip(":") for p in path_prefixes()} == set(SOURCES)
    assert "digits" in source_names() and "folder:" in path_prefixes()


@pytest.mark.parametrize("value", ["imagenet", "folder:", "npz", "digits:x", "", "MNIST", None, 3])
def test_anything_else_is_one_line_naming_the_choices(value):
    message = (f"{setting_name('data', 'dataset')} must be one of {list(source_names())} or folder:PATH or "
               f"npz:PATH; got {value!r}")
    with pytest.raises(ConfigError) as e:
        check_dataset(value)
    assert str(e.value) == message


def test_the_registry_accepts_exactly_the_registered_spellings():
    for source in SOURCES.values():
        validate(RunConfig(data=DataConfig(dataset=_spelling(source))))
        check_dataset(_spelling(source))
    for wrong in ("imagenet", "npz:", "folder:"):
        with pytest.raises(ConfigError, match="must be one of"):
            check_dataset(wrong)


def test_the_registry_imports_without_torch():
    code = ("import sys, nas4cnn.data.sources as s; s.source_names(); s.find_source('npz:x'); "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_named_data_sets_of_mirror_alike_classes_mirror():
    assert [name for name in SOURCES if mirrors(name)] == ["fashion-mnist", "cifar10"]
    assert not mirrors("folder") and not mirrors("npz") and not mirrors("my-own")
