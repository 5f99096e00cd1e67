"""Command-line flags made from the settings' declarations (`nas4cnn.core.config.SETTINGS`).

A setting's flag, its type, its choices and its help text with the defaults (the fields'
defaults, and each recipe's where it differs) all come from its one declaration, so a flag's
help and the default it describes cannot disagree. The flags a parser was given are recorded
on it, so the config the flags describe is made without a list of them (`config_from_args`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from nas4cnn.core.checks import Boolean, OneOf
from nas4cnn.core.config import RECIPE_VALUES, SETTINGS, RunConfig, Setting, load_config
from nas4cnn.core.spaces import load_space

_GIVEN = "_settings"  # the namespace attribute listing the settings a command's parser takes


class LazyChoices:
    """Choices read when first needed (checking a value, formatting help): a parser listing a
    registry's names can be built without importing the registry."""

    def __init__(self, load: Callable[[], Iterable[str]]):
        self._load = load

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __contains__(self, value) -> bool:
        return value in self._load()


def _strategy_names() -> list[str]:
    from nas4cnn.strategies import (
        STRATEGIES,  # here: only a parser that lists them needs them
    )

    return list(STRATEGIES)


def _dataset_help() -> str:
    from nas4cnn.data.sources import dataset_help

    return dataset_help()


# Settings whose names a registry above the config holds (the config does not check them):
# their choices, or the description of every choice.
_REGISTRY_CHOICES = {"search.strategy": LazyChoices(_strategy_names)}
_REGISTRY_HELP = {"data.dataset": _dataset_help}


def dest(setting: Setting) -> str:
    """The namespace attribute a setting's flag writes."""
    return f"{setting.section}.{setting.key}"


def show(value) -> str:
    """A default as a user would type it."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def recipe_value(setting: Setting, recipe: str):
    return RECIPE_VALUES[recipe].get(setting.section, {}).get(setting.key, setting.default)


def default_text(setting: Setting) -> str:
    """What a flag's help says of its defaults, from the declaration and the recipes:
    'default 1; --recipe seed: 0; 0 = off', or '' for a switch no recipe turns on."""
    others = [(name, recipe_value(setting, name)) for name in RECIPE_VALUES]
    others = [(name, v) for name, v in others if v != setting.default]
    if setting.flag_value is not None:  # a switch: on where a recipe sets its value
        return "; ".join(f"on with --recipe {name}" for name, v in others if v == setting.flag_value)
    zero = setting.default in (0, "") and setting.zero is not None
    if zero:
        parts = [f"default: {setting.zero}" if setting.default == "" else f"default 0 = {setting.zero}"]
    else:
        parts = [f"default {show(setting.default)}"]
    parts += [f"--recipe {name}: {show(v)}" for name, v in others]
    if setting.zero is not None and not zero:
        parts.append(f"0 = {setting.zero}")
    return "; ".join(parts)


def help_text(setting: Setting, help: str | None = None) -> str:
    """The flag's help: what it does (`help`, or the declaration's) and its defaults."""
    if help is None and dest(setting) in _REGISTRY_HELP:
        help = _REGISTRY_HELP[dest(setting)]()
    text = (help or setting.help).replace("%", "%%")  # argparse formats help with %
    if dest(setting) in _REGISTRY_CHOICES:
        text += "; one of %(choices)s"
    defaults = default_text(setting).replace("%", "%%")
    return f"{text} ({defaults})" if defaults else text


def add_settings(target, keys: Iterable[str], helps: dict[str, str] | None = None) -> None:
    """Add the flags of the settings `keys` ("section.key") to `target`, a parser or one of its
    argument groups; `helps` replaces a setting's description for this command."""
    given = target.get_default(_GIVEN) or ()  # an argument group shares its parser's defaults
    for key in keys:
        s = SETTINGS[key]
        help = help_text(s, (helps or {}).get(key))
        if s.flag_value is not None:
            target.add_argument(f"--{s.flag}", dest=dest(s), action="store_const", const=s.flag_value,
                                default=None, help=help)
            continue
        if isinstance(s.check, Boolean):
            raise TypeError(f"setting {key}: a true/false setting's flag needs a flag_value")
        choices = _REGISTRY_CHOICES.get(key)
        if choices is None and isinstance(s.check, OneOf) and s.check.type is str:
            choices = s.check.values
        metavar = s.metavar or (None if choices is not None and key not in _REGISTRY_CHOICES else
                                s.flag.upper().replace("-", "_"))
        target.add_argument(f"--{s.flag}", dest=dest(s), type=_arg_type(s), choices=choices, metavar=metavar,
                            help=help)
    target.set_defaults(**{_GIVEN: (*given, *keys)})


def _arg_type(setting: Setting) -> Callable:
    """The flag's argument type: the check's; a converting check's (a duration) has its own
    message for what it cannot read."""
    parse = setting.check.type
    if not hasattr(setting.check, "convert"):
        return parse

    def convert(text: str):
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = getattr(parse, "__name__", "value")  # argparse names the type in its message
    return convert


def setting_value(args: argparse.Namespace, key: str):
    """The value a setting's flag was given ("section.key"), or None."""
    return getattr(args, dest(SETTINGS[key]), None)


def settings_given(args: argparse.Namespace, leave_out: Iterable[str] = ()) -> bool:
    """Whether any setting's flag, --config or --recipe was given (other than those of `leave_out`)."""
    keys = [k for k in getattr(args, _GIVEN, ()) if k not in set(leave_out)]
    flags = any(getattr(args, dest(SETTINGS[k])) is not None for k in keys)
    return flags or getattr(args, "config", None) is not None or getattr(args, "recipe", None) is not None


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None) -> RunConfig:
    """The config the flags describe: `base` (by default the --recipe's defaults, updated from
    --config) with --space and each given setting's flag applied, validated."""
    config = base or load_config(getattr(args, "config", None), getattr(args, "recipe", None) or "default")
    if getattr(args, "space", None):
        config = replace(config, space=load_space(args.space))
    keys = getattr(args, _GIVEN, ())
    for section in ("search", "train", "data"):
        values = {SETTINGS[k].key: getattr(args, dest(SETTINGS[k])) for k in keys if SETTINGS[k].section == section}
        config = config.override(section, **values)
    return config


def recipe_help() -> str:
    """--recipe's help: each recipe and the settings it changes, as flags."""
    def changes(name: str) -> str:
        values = [(SETTINGS[f"{section}.{key}"], v) for section, kv in RECIPE_VALUES[name].items()
                  for key, v in kv.items()]
        shown = [f"--{s.flag}" if s.flag_value is not None and v == s.flag_value else f"--{s.flag} {show(v)}"
                 for s, v in values if s.flag]
        return f"{name} ({', '.join(shown)})" if shown else f"{name} (this tool's, the default)"

    return "defaults to start from: " + " or ".join(changes(name) for name in RECIPE_VALUES)
