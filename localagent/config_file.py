"""`localagent.toml`: checking it, and `python -m localagent config`, which prints every
effective setting with the place it came from (flag, environment, .env, the TOML file or the
default), secrets masked.

A TOML file is where a typo hides longest, so unknown keys are an error with a suggestion,
not silently ignored as pydantic-settings would.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import textwrap
import tomllib
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

from localagent.errors import ConfigError
from localagent.settings import CONFIG_ENV, Settings, config_file_path

__all__ = ["check_config_file", "config_main", "describe_settings"]

MASK = "[set, hidden]"


def _field_keys() -> dict[str, str]:
    """Every key the TOML file may use (field names and their aliases) -> field name."""
    keys = {}
    for name, field in Settings.model_fields.items():
        keys[name] = name
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            if isinstance(choice, str):
                keys[choice] = name
    return keys


def _read_toml(path: Path) -> dict[str, Any]:
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
    data = _read_toml(path)
    keys = _field_keys()
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
    flags = flags or {}
    env, dotenv = EnvSettingsSource(Settings), DotEnvSettingsSource(Settings)
    path = config_file_path()
    toml = _read_toml(path) if path is not None else {}
    toml_fields = {_field_keys().get(k, k): k for k in toml}
    rows = []
    for name, field in Settings.model_fields.items():
        if name in flags:
            source = f"flag --{name.replace('_', '-')}"
        elif (hit := env.get_field_value(field, name))[0] is not None:
            source = f"environment {_env_name(hit[1], name)}"
        elif (hit := dotenv.get_field_value(field, name))[0] is not None:
            source = f".env {_env_name(hit[1], name)}"
        elif name in toml_fields:
            source = f"{path} ({toml_fields[name]})"
        else:
            source = "default"
        value = getattr(settings, name)
        shown = (
            (MASK if value.get_secret_value() else "") if isinstance(value, SecretStr) else value
        )
        rows.append({"setting": name, "value": str(shown), "source": source})
    return rows


def example_toml() -> str:
    """Every setting with its description and default, commented out: a file to edit."""
    lines = [
        "# localagent.toml: put it in the working directory, in the user config directory",
        "# (e.g. ~/.config/localagent/), or anywhere with LOCALAGENT_CONFIG=PATH.",
        "# Priority: command-line flags > environment > .env > this file > defaults.",
        "# Uncomment what you change. `python -m localagent config` shows the result.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        if field.description:
            lines += textwrap.wrap(
                field.description, 88, initial_indent="# ", subsequent_indent="# "
            )
        if name.startswith("tavus_api_key"):
            lines.append("# Prefer the TAVUS_API_KEY environment variable for the key itself.")
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr) or default is None:
            lines.append(f'# {name} = ""')
        else:
            lines.append(f"# {name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def config_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localagent config",
        description="Print the effective settings and where each came from.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--example", action="store_true", help="print a documented localagent.toml to start from"
    )
    args = parser.parse_args(argv)
    if args.example:
        print(example_toml(), end="")
        return 0
    try:
        path = check_config_file()
        settings = Settings()
    except ConfigError as e:
        print(f"localagent: {e}")
        return 2
    rows = describe_settings(settings)
    if args.json:
        print(json.dumps({"config_file": str(path) if path else None, "settings": rows}, indent=2))
        return 0
    where = path if path else f"none (looked for ${CONFIG_ENV}, ./localagent.toml, user config)"
    print(f"config file: {where}")
    width = max(len(r["setting"]) for r in rows)
    for r in rows:
        print(f"{r['setting']:<{width}}  {r['value']:<40}  {r['source']}")
    if os.environ.get(CONFIG_ENV) is None and path is None:
        print(
            "\nTo change settings in a file: "
            "python -m localagent config --example > localagent.toml"
        )
    return 0
