"""The command line's flags and the configuration reference, both made from the settings.

A setting is written once, as a field of `Settings`: its name is the TOML key and, with
dashes, the flag (`statement_wait_s` is `--statement-wait-s`); its environment variable is
`LOCALAGENT_` and the name in capitals, or its aliases; its description is the flag's help
and the reference's text; its type gives the flag's kind (a number, a choice, `on|off`, a
repeatable value). Field metadata (`json_schema_extra`) adds what the type cannot say: a
`metavar`, a `switch` (a flag without a value, like `--offline`), and `default_text` for a
default computed on the user's machine. Secrets get no flag: a command line is visible to
every user of the machine.
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from localagent.settings import Settings

__all__ = ["add_setting_flags", "env_names", "flag_fields", "reference_markdown"]


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _base(annotation: Any) -> Any:
    """The annotation without `None` (`str | None` is `str`)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _secret(field: FieldInfo) -> bool:
    return _base(field.annotation) is SecretStr


def flag_fields() -> Iterator[tuple[str, FieldInfo]]:
    """The settings that have a flag: all but the secrets."""
    for name, field in Settings.model_fields.items():
        if not _secret(field):
            yield name, field


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c) for c in choices if str(c).isupper()]
    return [f"LOCALAGENT_{name.upper()}"]


def default_text(field: FieldInfo) -> str:
    """The default as a user reads it (not this machine's value for a computed one)."""
    if "default_text" in _extra(field):
        return str(_extra(field)["default_text"])
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


def _kind(field: FieldInfo) -> dict[str, Any]:
    """argparse's arguments for the field's type."""
    base = _base(field.annotation)
    extra = _extra(field)
    if get_origin(base) is Literal:
        return {"choices": [str(a) for a in get_args(base)]}
    if base is bool:
        return {"action": "store_true"} if extra.get("switch") else {"choices": ["on", "off"]}
    if get_origin(base) is list:
        return {"action": "append", "metavar": extra.get("metavar", "VALUE")}
    kwargs: dict[str, Any] = {}
    if base in (int, float):
        kwargs["type"] = base
    if "metavar" in extra:
        kwargs["metavar"] = extra["metavar"]
    elif base is Path:
        kwargs["metavar"] = "PATH"
    return kwargs


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """A flag for each setting (`dest` is the field's name; unset flags stay None)."""
    for name, field in flag_fields():
        kwargs = _kind(field)
        text = (field.description or "").replace("%", "%%")
        if kwargs.get("action") != "store_true":
            text += f" (default {default_text(field)})".replace("%", "%%")
        parser.add_argument(flag_name(name), dest=name, default=None, help=text, **kwargs)


def reference_markdown() -> str:
    """docs/configuration.md: every setting, where it is set, its default and what it does."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `localagent/settings.py` by `python -m localagent config --reference`;",
        "a test fails when this page is stale. Each setting can be given, highest first, as",
        "a command-line flag, an environment variable, a line in `.env`, a key in",
        "`localagent.toml` (`python -m localagent config --example` writes one to start from),",
        "or left to its default. `python -m localagent config` shows each effective value and",
        "where it came from. Secrets have no flag.",
        "",
        "| setting (TOML key) | environment | flag | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        env = ", ".join(f"`{e}`" for e in env_names(name, field))
        kind = _kind(field)
        if _secret(field):
            flag = "none (a secret)"
        elif "choices" in kind:
            flag = f"`{flag_name(name)} {'|'.join(kind['choices'])}`".replace("|", "\\|")
        elif kind.get("action") == "store_true":
            flag = f"`{flag_name(name)}`"
        else:
            flag = f"`{flag_name(name)} {kind.get('metavar', name.split('_')[-1].upper())}`"
            if kind.get("action") == "append":
                flag += " (repeatable)"
        description = (field.description or "").replace("|", "\\|")
        default = default_text(field).replace("|", "\\|")
        lines.append(f"| `{name}` | {env} | {flag} | `{default}` | {description} |")
    return "\n".join(lines) + "\n"
