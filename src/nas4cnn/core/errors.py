"""Errors raised for bad user input; the CLI turns them into one line and exit status 2."""


class Nas4cnnError(ValueError):
    """Base class for every error caused by what the user gave us."""


class ConfigError(Nas4cnnError):
    """An invalid configuration value, flag or config file."""


class GenotypeError(Nas4cnnError):
    """A genotype or architecture name that is malformed or outside the space."""


class DataError(Nas4cnnError):
    """A data set that cannot be used: wrong shapes, labels, empty splits, non-finite values."""


class RunDirError(Nas4cnnError):
    """A run directory that cannot be written or read."""


def option_prefix(what: str) -> str:
    """The start of an error message about `what` (an option such as "--out"), or nothing
    where the message needs no name (the command's only argument)."""
    return f"{what}: " if what else ""
