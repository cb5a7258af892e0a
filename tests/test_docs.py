"""The documentation stays true: the configuration reference is the settings', every
setting is described and has its flag, both entry points set the privacy switches, and
every command the README and docs/ mark to be run parses."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from localagent.cli import build_parser
from localagent.privacy.egress import NO_TELEMETRY_ENV
from localagent.settings import REPO_ROOT, Settings
from localagent.settings_flags import flag_fields, flag_name, reference_markdown

DOCS = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    written = (DOCS / "configuration.md").read_text()
    assert written == reference_markdown(), (
        "docs/configuration.md is stale: python -m localagent config --reference "
        "> docs/configuration.md"
    )


def test_every_setting_is_described_and_in_the_reference() -> None:
    reference = reference_markdown()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"| `{name}` |" in reference


def test_every_setting_but_a_secret_has_a_flag_that_sets_it() -> None:
    parser = build_parser()
    help_text = parser.format_help()
    for name, _ in flag_fields():
        assert flag_name(name) in help_text, name
    args = parser.parse_args(["--statement-wait-s", "0.6", "--speculate", "off", "--offline"])
    assert (args.statement_wait_s, args.speculate, args.offline) == (0.6, "off", True)
    assert "--tavus-api-key" not in help_text  # a command line is visible to every user


def _doctor_privacy(command: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in NO_TELEMETRY_ENV}
    done = subprocess.run(
        [*command, "doctor", "--json"], capture_output=True, text=True, timeout=120, env=env
    )
    checks = json.loads(done.stdout)["checks"]
    [privacy] = [c for c in checks if c["name"] == "privacy"]
    return f"{privacy['status']}: {privacy['detail']}"


def test_both_entry_points_set_the_privacy_switches_before_the_libraries_load() -> None:
    script = Path(sys.executable).with_name("localagent")
    assert script.exists(), "pip install -e . makes the localagent command"
    seen = [_doctor_privacy([str(script)]), _doctor_privacy([sys.executable, "-m", "localagent"])]
    assert seen[0] == seen[1] and seen[0].startswith("ok:"), seen
    for name, value in NO_TELEMETRY_ENV.items():
        assert f"{name}={value}" in seen[0]


# A command meant to be run is in a ```sh block; lines in it that start with
# `python -m localagent` are checked: the flags and command must parse (`--help` is added,
# so nothing runs). Other lines (pip, git, npm) are not localagent's to check.
def _documented_commands() -> list[tuple[str, str]]:
    found = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                for part in re.split(r"\s*(?:&&|;|\||&$)\s*", line):
                    if part.startswith("python -m localagent"):
                        found.append((page.name, part))
    return found


def test_the_docs_mark_commands_to_run() -> None:
    pages = {page for page, _ in _documented_commands()}
    assert "README.md" in pages and len(_documented_commands()) >= 5


@pytest.mark.parametrize(("page", "command"), _documented_commands())
def test_each_documented_command_parses(page: str, command: str) -> None:
    words = shlex.split(command)[3:]  # after `python -m localagent`
    words = [w for w in words if not w.startswith(">")]
    while words and words[-1] in (">", "2>&1"):
        words.pop()
    try:
        build_parser().parse_args([*words, "--help"])
    except SystemExit as e:
        assert e.code == 0, f"{page}: `{command}` does not parse"
