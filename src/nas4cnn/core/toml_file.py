"""Reading a TOML file a user names (a config, a space), with one clear line when it cannot be."""

from __future__ import annotations

import tomllib
from pathlib import Path

from nas4cnn.core.errors import ConfigError


def read_toml(path: str | Path, what: str) -> dict:
    """The TOML table in `path`; a ConfigError naming `what` (the flag) if the file is
    missing, unreadable or not TOML."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what}: no such file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what}: cannot read {str(path)!r}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{what}: {str(path)!r} is not valid TOML: {e}") from None
