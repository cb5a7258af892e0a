"""`python -m localagent config`: every effective setting with the place it came from (flag,
environment, .env, the TOML file or the default), secrets masked; `--example` writes a
documented `localagent.toml` to start from; `--reference` the configuration reference
(docs/configuration.md)."""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from typing import Any

from pydantic import SecretStr

from localagent.settings import CONFIG_ENV, Settings
from localagent.settings_loader import check_config_file, describe_settings, load_settings

__all__ = ["HELP", "add_arguments", "example_toml", "run"]

HELP = "the effective settings and where each came from"


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
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--example", action="store_true", help="print a documented localagent.toml to start from"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="print the configuration reference (docs/configuration.md) in Markdown",
    )


def run(args: argparse.Namespace) -> int:
    if args.example:
        print(example_toml(), end="")
        return 0
    if args.reference:
        from localagent.settings_flags import reference_markdown

        print(reference_markdown(), end="")
        return 0
    settings = load_settings()
    path = check_config_file()
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
