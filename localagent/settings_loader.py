"""Loading the settings, with one error policy for every command: defaults, `localagent.toml`,
`.env`, the environment and flags become one `Settings`, or one `ConfigError` that names the
setting, where its value came from and the fix. Also where each value came from, for
`python -m localagent config`.

A TOML file is where a typo hides longest, so unknown keys are an error with a suggestion,
not silently ignored as pydantic-settings would.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from localagent.errors import ConfigError
from localagent.privacy.redact import redact, register_secret
from localagent.settings import CONFIG_ENV, Settings, config_file_path

__all__ = [
    "check_config_file",
    "describe_settings",
    "field_keys",
    "load_settings",
    "SettingSources",
]

MASK = "[set, hidden]"


def field_keys() -> dict[str, str]:
    """Every key the TOML file may use (field names and their aliases) -> field name."""
    keys = {}
    for name, field in Settings.model_fields.items():
        keys[name] = name
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            if isinstance(choice, str):
                keys[choice] = name
    return keys


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {path} does not exist.", f"create it, or unset {CONFIG_ENV}"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}.", "fix the line named above") from None


def check_config_file() -> Path | None:
    """Raise a ConfigError for a missing, malformed or misspelt config file; its path."""
    path = config_file_path()
    if path is None:
        return None
    data = read_toml(path)
    keys = field_keys()
    for key, value in data.items():
        if key not in keys:
            close = difflib.get_close_matches(key, list(keys), n=1)
            hint = (
                f"did you mean '{close[0]}'?"
                if close
                else "`python -m localagent config --example` lists every setting"
            )
            raise ConfigError(f"Unknown setting '{key}' in {path}.", hint)
        if isinstance(value, dict):
            raise ConfigError(
                f"'{key}' in {path} is a table; settings are top-level keys.",
                "move the keys out of the [table]",
            )
    return path


def _env_name(key: str, field: str) -> str:
    """The variable as the user wrote it: pydantic reports prefixed names by field name."""
    return f"LOCALAGENT_{field.upper()}" if key == field else key


def describe_settings(
    settings: Settings, flags: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """One row per setting: name, effective value (secrets masked) and its source."""
    sources = SettingSources(flags)
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        shown = (
            (MASK if value.get_secret_value() else "") if isinstance(value, SecretStr) else value
        )
        rows.append({"setting": name, "value": str(shown), "source": sources.of(name)})
    return rows


class SettingSources:
    """Where each setting comes from: a flag, the environment, .env, the file or the
    default. Reads the environment, .env and the TOML file once, when made."""

    def __init__(self, flags: dict[str, Any] | None = None) -> None:
        self._flags = flags or {}
        self._env, self._dotenv = EnvSettingsSource(Settings), DotEnvSettingsSource(Settings)
        self._path = config_file_path()
        toml = read_toml(self._path) if self._path is not None else {}
        keys = field_keys()
        self._toml = {keys.get(key, key): key for key in toml}  # field -> key as written

    def of(self, name: str) -> str:
        field = Settings.model_fields[name]
        if name in self._flags:
            return f"flag --{name.replace('_', '-')}"
        if (hit := self._env.get_field_value(field, name))[0] is not None:
            return f"environment {_env_name(hit[1], name)}"
        if (hit := self._dotenv.get_field_value(field, name))[0] is not None:
            return f".env {_env_name(hit[1], name)}"
        if name in self._toml:
            return f"{self._path} ({self._toml[name]})"
        return "default"


def load_settings(flags: dict[str, Any] | None = None) -> Settings:
    """The settings of this run, or a ConfigError saying in one line what to fix."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    check_config_file()
    try:
        settings = Settings(**flags)
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        where = SettingSources(flags).of(name) if name in Settings.model_fields else "?"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ConfigError(
            redact(
                f"Invalid setting {name} = {first.get('input')!r} from {where}: "
                f"{first['msg']}{more}."
            ),
            "correct it there; `python -m localagent config --example` documents every setting",
        ) from None
    if settings.tavus_api_key is not None:
        register_secret(settings.tavus_api_key.get_secret_value())
    return settings
