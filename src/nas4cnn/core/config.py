"""Typed, frozen run configuration: defaults, a TOML file, then command-line overrides.

Validation happens once, in `validate`, with messages that name the setting, what
was expected and what was given.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import GENES, SearchSpace

OPTIMIZERS = ("adamax", "adam", "adamw", "sgd")
DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "cifar10")
DATASET_PREFIXES = ("folder:", "npz:")
STRATEGIES = ("evolution", "regularized-evolution", "random", "grid", "local-search", "best-first", "hyperband",
              "nsga2", "optuna-tpe", "hyperband+evolution", "hyperband+regularized-evolution",
              "hyperband+local-search", "hyperband+best-first")


SCALINGS = ("none", "unit", "standardize")
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How every network is trained, in the search and for the final model."""

    epochs: int = 8
    lr: float = 1e-2
    weight_decay: float = 1e-5
    batch_size: int = 64
    optimizer: str = "adamax"
    scaling: str = "standardize"  # input map fitted on the training images: none | unit | standardize
    schedule: str = "cosine"  # learning rate over the run: constant | cosine (to zero at the last step)
    aug_shift: float = 1.0  # random shifts of up to this many pixels
    aug_rotate: float = 10.0  # random rotations of up to this many degrees
    aug_scale: float = 0.1  # random scalings of up to this fraction


# The seed's own recipe (raw inputs, constant Adamax 1e-3, no augmentation, 40 final epochs
# on the training split), kept available exactly: `--recipe seed`.
SEED_RECIPE = {
    "train": {"lr": 1e-3, "scaling": "none", "schedule": "constant", "aug_shift": 0.0, "aug_rotate": 0.0,
              "aug_scale": 0.0},
    "search": {"final_epochs": 40, "final_patience": 0, "final_trainval": False},
}
RECIPES = ("default", "seed")


@dataclass(frozen=True)
class SearchConfig:
    strategy: str = "evolution"
    generations: int = 50
    population: int = 20
    lam: float = 0.01
    final_epochs: int = 100
    seed: int = 0
    distinct_survivors: bool = True
    final_patience: int = 0  # stop the final training after this many epochs without better validation loss
    final_trainval: bool = True  # then retrain the final model on train + validation for the epochs found
    final_repeats: int = 1  # seeds the final model is trained with; the mean and spread are reported
    early_stop: float = 0.0  # stop trainings worse than this quantile at the checkpoints (0 = off; see early_stop)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "digits"  # a name in DATASETS, or folder:PATH / npz:PATH
    data_dir: str = ""  # where the named data sets' files are; "" = the cache folder
    download: bool = False  # fetch missing files of a named data set from its official source
    val_fraction: float = 0.1  # share of the training split held out for validation (not digits)
    split_seed: int = 0  # seed of the stratified validation split
    image_size: int = 0  # folder:PATH images are resized to this square size; 0 = 28
    channels: int = 0  # folder:PATH: 1 grey, 3 colour; 0 = grey unless an image has colour


@dataclass(frozen=True)
class RunConfig:
    space: SearchSpace = field(default_factory=SearchSpace)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        search = asdict(self.search)
        search["lambda"] = search.pop("lam")
        return {
            "space": self.space.to_dict(),
            "train": asdict(self.train),
            "search": search,
            "data": asdict(self.data),
        }

    @classmethod
    def recipe(cls, name: str = "default") -> RunConfig:
        """The defaults of a named recipe: `default`, or `seed` for the seed's own training."""
        if name not in RECIPES:
            raise ConfigError(f"--recipe must be one of {list(RECIPES)}; got {name!r}")
        config = cls()
        if name == "seed":
            for section, values in SEED_RECIPE.items():
                config = replace(config, **{section: replace(getattr(config, section), **values)})
        return config

    def override(self, section: str, **values) -> RunConfig:
        """A copy with the given (non-None) values replaced in one section, validated."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        new = replace(self, **{section: replace(getattr(self, section), **values)})
        validate(new)
        return new


# Names used in config files and messages; `lam` is spelled `lambda` outside Python.
_FILE_KEYS = {
    "train": {f.name: f.name for f in fields(TrainConfig)},
    "search": {("lambda" if f.name == "lam" else f.name): f.name for f in fields(SearchConfig)},
    "data": {f.name: f.name for f in fields(DataConfig)},
    "space": {g: g for g in GENES},
}
_FLAGS = {
    "lam": "lambda",
    "final_epochs": "final-epochs",
    "weight_decay": "weight-decay",
    "batch_size": "batch-size",
    "distinct_survivors": "keep-duplicates",
    "aug_shift": "aug-shift",
    "aug_rotate": "aug-rotate",
    "aug_scale": "aug-scale",
    "final_patience": "patience",
    "final_trainval": "no-trainval",
    "final_repeats": "repeats",
    "early_stop": "early-stop",
    "data_dir": "data-dir",
    "val_fraction": "val-fraction",
    "split_seed": "split-seed",
    "image_size": "image-size",
}


def setting_name(section: str, key: str) -> str:
    """How a setting is named in messages: its config key and its flag."""
    file_key = "lambda" if key == "lam" else key
    return f"{section}.{file_key} (--{_FLAGS.get(key, key)})"


def load_config(path: str | Path | None = None, recipe: str = "default") -> RunConfig:
    """A recipe's defaults, updated from a TOML file if given; validated."""
    if path is None:
        return RunConfig.recipe(recipe)
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config: no such file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config: cannot read {str(path)!r}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config: {str(path)!r} is not valid TOML: {e}") from None
    return config_from_dict(raw, source=str(path), base=RunConfig.recipe(recipe))


def config_from_dict(raw: dict, source: str = "config", base: RunConfig | None = None) -> RunConfig:
    """A config from a TOML table or a stored config, on top of `base` (by default: the
    defaults, or the seed's recipe for a config stored before the recipe was a setting)."""
    for section, value in raw.items():
        if section not in _FILE_KEYS:
            raise ConfigError(f"{source}: unknown section [{section}]{_did_you_mean(section, _FILE_KEYS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of settings; got {value!r}")
        for key in value:
            if key not in _FILE_KEYS[section]:
                raise ConfigError(
                    f"{source}: unknown key '{key}' in [{section}]{_did_you_mean(key, _FILE_KEYS[section])}"
                )

    def section_values(name: str) -> dict:
        keys = _FILE_KEYS[name]
        return {keys[k]: v for k, v in raw.get(name, {}).items()}

    if base is None:
        # A stored config from before the training recipe was a setting (no train.scaling)
        # was made with the seed's recipe: read it as such, not with today's defaults.
        old = isinstance(raw.get("train"), dict) and "scaling" not in raw["train"]
        base = RunConfig.recipe("seed") if old else RunConfig()
    config = RunConfig(
        space=SearchSpace.from_lists(**section_values("space")),
        train=replace(base.train, **section_values("train")),
        search=replace(base.search, **section_values("search")),
        data=replace(base.data, **section_values("data")),
    )
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    t, s, d = config.train, config.search, config.data
    _int(t.epochs, 1, "train", "epochs")
    _number(t.lr, "train", "lr", strictly_positive=True)
    _number(t.weight_decay, "train", "weight_decay")
    _int(t.batch_size, 1, "train", "batch_size")
    _choice(t.optimizer, OPTIMIZERS, "train", "optimizer")
    _choice(t.scaling, SCALINGS, "train", "scaling")
    _choice(t.schedule, SCHEDULES, "train", "schedule")
    _number(t.aug_shift, "train", "aug_shift")
    _number(t.aug_rotate, "train", "aug_rotate")
    if t.aug_rotate > 180:
        raise ConfigError(f"{setting_name('train', 'aug_rotate')} must be at most 180 degrees; got {t.aug_rotate!r}")
    _number(t.aug_scale, "train", "aug_scale")
    if t.aug_scale >= 1:
        raise ConfigError(f"{setting_name('train', 'aug_scale')} must be below 1; got {t.aug_scale!r}")
    _choice(s.strategy, STRATEGIES, "search", "strategy")
    _int(s.generations, 0, "search", "generations")
    _int(s.population, 2, "search", "population")
    _number(s.lam, "search", "lam")
    _int(s.final_epochs, 1, "search", "final_epochs")
    _int(s.seed, 0, "search", "seed")
    _int(s.final_patience, 0, "search", "final_patience")
    _int(s.final_repeats, 1, "search", "final_repeats")
    check_early_stop(s.early_stop)
    if not isinstance(s.final_trainval, bool):
        raise ConfigError(f"{setting_name('search', 'final_trainval')} must be true or false; got {s.final_trainval!r}")
    if not isinstance(s.distinct_survivors, bool):
        raise ConfigError(f"{setting_name('search', 'distinct_survivors')} must be true or false; "
                          f"got {s.distinct_survivors!r}")
    if not isinstance(d.dataset, str) or not (
            d.dataset in DATASETS or (d.dataset.startswith(DATASET_PREFIXES) and ":" in d.dataset
                                      and d.dataset.split(":", 1)[1])):
        raise ConfigError(f"{setting_name('data', 'dataset')} must be one of {list(DATASETS)} or folder:PATH or "
                          f"npz:PATH; got {d.dataset!r}")
    if not isinstance(d.data_dir, str):
        raise ConfigError(f"{setting_name('data', 'data_dir')} must be a folder path; got {d.data_dir!r}")
    if not isinstance(d.download, bool):
        raise ConfigError(f"{setting_name('data', 'download')} must be true or false; got {d.download!r}")
    _number(d.val_fraction, "data", "val_fraction", strictly_positive=True)
    if d.val_fraction >= 1:
        raise ConfigError(f"{setting_name('data', 'val_fraction')} must be below 1; got {d.val_fraction!r}")
    _int(d.split_seed, 0, "data", "split_seed", 2**32 - 1)  # scikit-learn's random_state range
    _int(d.image_size, 0, "data", "image_size")
    _choice(d.channels, (0, 1, 3), "data", "channels")


def check_early_stop(value) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (value == 0 or 0 < value < 1)
    if not ok:
        raise ConfigError(f"{setting_name('search', 'early_stop')} must be 0 (off) or a quantile between 0 and 1, "
                          f"like 0.75; got {value!r}")


def _int(value, minimum: int, section: str, key: str, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{setting_name(section, key)} must be an integer >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{setting_name(section, key)} must be an integer in {minimum}..{maximum}; got {value!r}")


def _number(value, section: str, key: str, strictly_positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and value != float("inf")
    if not ok or value < 0 or (strictly_positive and value == 0):
        bound = "> 0" if strictly_positive else ">= 0"
        raise ConfigError(f"{setting_name(section, key)} must be a finite number {bound}; got {value!r}")


def _choice(value, allowed: tuple[str, ...], section: str, key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{setting_name(section, key)} must be one of {list(allowed)}; got {value!r}")


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (expected one of {sorted(options)}){hint}"
