"""Typed, frozen run configuration: defaults, a TOML file, then command-line overrides.

Each setting is declared once, on its field (`_setting`): its default, its config-file key,
its command-line flag, its help and its check. From these declarations (`SETTINGS`) come the
config files' keys, the names in messages (`setting_name`), `validate`, and the command line's
flags and help texts with their defaults (`nas4cnn.cli.flags`). Validation happens once, in
`validate`, with messages that name the setting, what was expected and what was given.

Names checked against a registry above this layer are not checked here (the strategy, the
optimiser, the data set and the space's activations: `nas4cnn.api.preparation.prepare` asks
the registries before any work). The checks themselves are in `nas4cnn.core.checks`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from nas4cnn.core.checks import Boolean, Check, Duration, Integer, Number, OneOf, Quantile, Text
from nas4cnn.core.errors import ConfigError
from nas4cnn.core.space import SearchSpace
from nas4cnn.core.spaces import Space, space_from_dict
from nas4cnn.core.toml_file import read_toml

SCALINGS = ("none", "unit", "standardize")
SCHEDULES = ("constant", "cosine")
AUGMENTS = ("auto", "on", "off")


@dataclass(frozen=True)
class Setting:
    """One setting of a config record, declared on its field (see `_setting`).

    `key` is the field's name; `file_key` its name in config files and messages; `flag` its
    command-line flag without the dashes (None: config file only), which sets it to `flag_value`
    when that is given (a switch such as --no-trainval) and to the flag's argument otherwise;
    `help` says what it does (the command line adds the defaults); `zero` says what the value
    0 (or "") means, where it means something else than the number; `check` validates a value.
    """

    section: str
    key: str
    default: Any
    check: Check
    help: str
    file_key: str
    flag: str | None
    flag_value: Any = None
    metavar: str | None = None
    zero: str | None = None

    @property
    def name(self) -> str:
        """How the setting is named in messages: its config key, and its flag if it has one."""
        flag = f" (--{self.flag})" if self.flag else ""
        return f"{self.section}.{self.file_key}{flag}"


def _setting(default, check: Check, help: str, *, flag: str | None | bool = True, file_key: str | None = None,
             flag_value=None, metavar: str | None = None, zero: str | None = None):
    """A config record's field with its declaration as metadata; `flag=True` derives the flag
    from the field's name (`val_fraction` -> --val-fraction), `flag=False` gives none."""
    meta = {"check": check, "help": help, "flag": flag, "file_key": file_key, "flag_value": flag_value,
            "metavar": metavar, "zero": zero}
    return field(default=default, metadata={"setting": meta})


@dataclass(frozen=True)
class TrainConfig:
    """How every network is trained, in the search and for the final model."""

    epochs: int = _setting(8, Integer(1), "training epochs per candidate")
    lr: float = _setting(1e-2, Number(positive=True), "base learning rate")
    weight_decay: float = _setting(1e-5, Number(), "the optimiser's weight decay", flag=False)
    batch_size: int = _setting(0, Integer(0), "images per training step", metavar="N",
                               zero="chosen from the data's size: 64, or 128 above 10,000 training images")
    # The names of optimisers and data sets are checked by their registries (`nas4cnn.nn.optimizers`,
    # `nas4cnn.data.sources`), above this layer, before any work (`nas4cnn.api.preparation`).
    optimizer: str = _setting("adamax", Text("an optimiser's name"), "the optimiser", flag=False)
    scaling: str = _setting("standardize", OneOf(SCALINGS), "input scaling fitted on the training images")
    schedule: str = _setting("cosine", OneOf(SCHEDULES),
                             "learning rate over training (cosine: to zero at the last step)")
    augment: str = _setting("auto", OneOf(AUGMENTS), "augment training batches with the shifts, rotations and "
                            "scalings below (auto: on up to 10,000 training images, off above)")
    aug_shift: float = _setting(1.0, Number(), "random shifts up to PX pixels", metavar="PX", zero="off")
    aug_rotate: float = _setting(10.0, Number(at_most=180, unit="degrees"), "random rotations up to DEG degrees",
                                 metavar="DEG", zero="off")
    aug_scale: float = _setting(0.1, Number(below=1), "random scaling up to a fraction F", metavar="F",
                                zero="off")
    aug_flip: str = _setting("auto", OneOf(AUGMENTS), "mirror training images left-right at random (auto: for "
                             "data sets whose classes look alike mirrored, fashion-mnist and cifar10; not digits "
                             "or letters), whatever --augment says")


@dataclass(frozen=True)
class SearchConfig:
    """How the search runs and how its winner is trained."""

    strategy: str = _setting("evolution", Text("a strategy name"),
                             "search strategy (evolution is the seed's genetic algorithm)", metavar="NAME")
    generations: int = _setting(50, Integer(0), "generations after the initial population")
    population: int = _setting(20, Integer(2), "population size mu = children per generation")
    lam: float = _setting(0.01, Number(), "weight of the size penalty", flag="lambda", file_key="lambda")
    final_epochs: int = _setting(0, Integer(0), "most epochs to retrain the winner",
                                 zero="chosen from the data's size: 100, fewer above 8,000 training images "
                                      "(800,000 / images, at least 15)")
    seed: int = _setting(0, Integer(0), "run seed")
    distinct_survivors: bool = _setting(
        True, Boolean(), "the seed's exact survivor rule: copies of a genotype may fill the population",
        flag="keep-duplicates", flag_value=False)
    final_patience: int = _setting(0, Integer(0), "stop when validation loss has not improved for N epochs and "
                                                  "keep the best weights", flag="patience", metavar="N", zero="off")
    final_trainval: bool = _setting(True, Boolean(), "do not retrain on training + validation images for the best "
                                                     "number of epochs", flag="no-trainval", flag_value=False)
    final_repeats: int = _setting(1, Integer(1), "train the final model with K seeds and report the mean and "
                                                 "spread of the test figures", flag="repeats", metavar="K")
    early_stop: float = _setting(0.0, Quantile(), "stop a candidate's training at 1/4, 1/2 or 3/4 of its epochs "
                                                  "when its objective there is worse than quantile Q of earlier "
                                                  "candidates'; 0.75 recommended", metavar="Q", zero="off")
    budget: float = _setting(0.0, Duration(), "bound the whole run's wall time (30m, 2h, 1h30m or seconds): the "
                                              "search ends with the batch that crosses its share and the final "
                                              "model's epochs fit what is left", metavar="TIME", zero="none")
    subset: int = _setting(0, Integer(0), "rank candidates on a stratified subset of N training images; the final "
                                          "model trains on all of them", metavar="N",
                           zero="chosen from the data's size and the budget: all up to 2,000 images, else 2,000, "
                                "more with a budget over 30m")
    val_subset: int = _setting(0, Integer(0), "rank candidates on a stratified subset of N validation images",
                               metavar="N", zero="all up to 2,000 images, else 2,000")
    shortlist: int = _setting(1, Integer(1), "train the search's K best networks again on all training images "
                                             "(the search's epochs, ranked on all validation images) and take "
                                             "the best of them as the final model; 1: the search's best as it is",
                              metavar="K")


@dataclass(frozen=True)
class DataConfig:
    """Which images, and how they are split."""

    dataset: str = _setting("digits", Text("a data set's name, folder:PATH or npz:PATH"),
                            "a named data set, folder:PATH or npz:PATH", metavar="NAME")
    data_dir: str = _setting("", Text("a folder path"), "folder with a named data set's files", metavar="DIR",
                             zero="a cache folder, $NAS4CNN_DATA/NAME or ~/.cache/nas4cnn/NAME")
    download: bool = _setting(False, Boolean(), "fetch a named data set's missing files from the official source "
                                                "(checksum-verified)", flag_value=True)
    val_fraction: float = _setting(0.1, Number(positive=True, below=1),
                                   "share of the training images held out for validation (not digits)", metavar="F")
    split_seed: int = _setting(0, Integer(0, 2**32 - 1),  # scikit-learn's random_state range
                               "seed of the stratified splits", metavar="S")
    image_size: int = _setting(0, Integer(0), "folder:PATH images are resized to PX x PX", metavar="PX", zero="28")
    channels: int = _setting(0, OneOf((0, 1, 3)), "folder:PATH: 1 grey, 3 colour", metavar="C",
                             zero="grey unless an image has colour")


@dataclass(frozen=True)
class RunConfig:
    space: Space = field(default_factory=SearchSpace)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        records = {section: getattr(self, section) for section in _RECORDS}
        return {"space": self.space.to_dict(),
                **{section: {s.file_key: getattr(record, s.key) for s in _in_section(section)}
                   for section, record in records.items()}}

    @classmethod
    def recipe(cls, name: str = "default") -> RunConfig:
        """The defaults of a named recipe: `default`, or `seed` for the seed's own training."""
        if name not in RECIPES:
            raise ConfigError(f"--recipe must be one of {list(RECIPES)}; got {name!r}")
        config = cls()
        for section, values in RECIPE_VALUES[name].items():
            config = replace(config, **{section: replace(getattr(config, section), **values)})
        return config

    def override(self, section: str, **values) -> RunConfig:
        """A copy with the given (non-None) values replaced in one section, validated."""
        values = _convert(section, {k: v for k, v in values.items() if v is not None})
        if not values:
            return self
        new = replace(self, **{section: replace(getattr(self, section), **values)})
        validate(new)
        return new


# The original project's recipe (the seed's: raw inputs, constant Adamax 1e-3 on batches of 64, no augmentation,
# 40 final epochs on the training split), kept available exactly: `--recipe seed`.
ORIGINAL_RECIPE = {
    "train": {"lr": 1e-3, "batch_size": 64, "scaling": "none", "schedule": "constant", "aug_shift": 0.0,
              "aug_rotate": 0.0, "aug_scale": 0.0, "aug_flip": "off"},
    "search": {"final_epochs": 40, "final_patience": 0, "final_trainval": False},
}
# Each recipe's values, by section, where they differ from the fields' defaults.
RECIPE_VALUES: dict[str, dict[str, dict]] = {"default": {}, "seed": ORIGINAL_RECIPE}
RECIPES = tuple(RECIPE_VALUES)

_RECORDS = {"train": TrainConfig, "search": SearchConfig, "data": DataConfig}


def _declare(section: str, f) -> Setting:
    meta = dict(f.metadata["setting"])
    flag = meta.pop("flag")
    flag = f.name.replace("_", "-") if flag is True else (flag or None)
    return Setting(section, f.name, f.default, flag=flag, file_key=meta.pop("file_key") or f.name, **meta)


# Every setting of the train, search and data sections, by "section.key" (the field's name).
SETTINGS: dict[str, Setting] = {
    f"{section}.{f.name}": _declare(section, f) for section, record in _RECORDS.items() for f in fields(record)
}


def _in_section(section: str) -> list[Setting]:
    return [s for s in SETTINGS.values() if s.section == section]


def setting_name(section: str, key: str) -> str:
    """How a setting is named in messages: its config key and its flag."""
    return SETTINGS[f"{section}.{key}"].name


def _file_keys() -> dict[str, dict[str, str]]:
    """Each section's config-file keys, and the field each sets."""
    keys = {section: {s.file_key: s.key for s in _in_section(section)} for section in _RECORDS}
    return keys  # (the [space] table is read, and checked, by `core.spaces.space_from_dict`)


def load_config(path: str | Path | None = None, recipe: str = "default") -> RunConfig:
    """A recipe's defaults, updated from a TOML file if given; validated."""
    if path is None:
        return RunConfig.recipe(recipe)
    raw = read_toml(path, "--config")
    return config_from_dict(raw, source=str(path), base=RunConfig.recipe(recipe))


def config_from_dict(raw: dict, source: str = "config", base: RunConfig | None = None) -> RunConfig:
    """A config from a TOML table or a stored config, on top of `base` (by default: the
    defaults, or the seed's recipe for a config stored before the recipe was a setting)."""
    file_keys = _file_keys()
    for section, value in raw.items():
        if section == "space":
            continue
        if section not in file_keys:
            raise ConfigError(f"{source}: unknown section [{section}]{_did_you_mean(section, file_keys)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of settings; got {value!r}")
        for key in value:
            if key not in file_keys[section]:
                raise ConfigError(
                    f"{source}: unknown key '{key}' in [{section}]{_did_you_mean(key, file_keys[section])}"
                )

    def section_values(name: str) -> dict:
        keys = file_keys[name]
        values = {keys[k]: v for k, v in raw.get(name, {}).items()}
        return _convert(name, values)

    if base is None:
        # A stored config from before the training recipe was a setting (no train.scaling)
        # was made with the seed's recipe: read it as such, not with today's defaults.
        old = isinstance(raw.get("train"), dict) and "scaling" not in raw["train"]
        base = RunConfig.recipe("seed") if old else RunConfig()
        if isinstance(raw.get("train"), dict) and "aug_flip" not in raw["train"]:
            base = base.override("train", aug_flip="off")  # stored before mirroring was a setting: none
    config = RunConfig(
        space=space_from_dict(raw.get("space", {}), source),
        train=replace(base.train, **section_values("train")),
        search=replace(base.search, **section_values("search")),
        data=replace(base.data, **section_values("data")),
    )
    validate(config)
    return config


def _convert(section: str, values: dict) -> dict:
    """Values written in another form than the field's (a duration as "30m"), converted."""
    out = dict(values)
    for key, value in values.items():
        s = SETTINGS.get(f"{section}.{key}")
        convert = getattr(s.check, "convert", None) if s is not None else None
        if convert is not None:
            out[key] = convert(value, s.name)
    return out


def validate(config: RunConfig) -> None:
    """Check every setting of the train, search and data sections (see `SETTINGS`); the first
    that is invalid raises a ConfigError naming it, what it must be and what was given."""
    for s in SETTINGS.values():
        s.check(getattr(getattr(config, s.section), s.key), s.name)


def check_early_stop(value) -> None:
    """The early-stop quantile's check, for callers that take it outside a config (compare)."""
    s = SETTINGS["search.early_stop"]
    s.check(value, s.name)


def _did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (expected one of {sorted(options)}){hint}"
