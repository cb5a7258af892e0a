"""The one settings object: defaults, `localagent.toml`, `.env`, environment, then CLI flags
(highest). Which file is read, and where each value came from, is `config_file.py`'s job."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from platformdirs import user_config_dir, user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from localagent.turns.words import STATEMENT_WAIT_MAX_S, STATEMENT_WAIT_S

REPO_ROOT = Path(__file__).resolve().parent.parent


def _project_dir(name: str) -> Path:
    """`flows/` or `models/` of the checkout, else of the working directory (pip install .)."""
    beside_package = REPO_ROOT / name
    return beside_package if beside_package.is_dir() else Path.cwd() / name


CONFIG_ENV = "LOCALAGENT_CONFIG"
CONFIG_NAME = "localagent.toml"


def config_file_path() -> Path | None:
    """The TOML file this run reads: $LOCALAGENT_CONFIG, else ./localagent.toml, else the
    user's config dir (e.g. ~/.config/localagent/localagent.toml); None if there is none."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    for candidate in (Path.cwd() / CONFIG_NAME, Path(user_config_dir("localagent")) / CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Everything a run can be configured with, each setting written once: its field is the
    TOML key, the flag and the environment variable (`settings_flags.py`), and its
    description is their documentation (docs/configuration.md is generated from it)."""

    model_config = SettingsConfigDict(
        env_prefix="LOCALAGENT_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    host: str = Field("127.0.0.1", description="Address the web server binds to.")
    port: int = Field(7860, ge=0, le=65535, description="Port of the web server (0 = any).")

    ollama_host: str = Field(
        "http://127.0.0.1:11434",
        validation_alias=_env("OLLAMA_HOST", "LOCALAGENT_OLLAMA_HOST", "ollama_host"),
        description="Base URL of the Ollama server.",
        json_schema_extra={"metavar": "URL"},
    )
    llm_model: str = Field(
        "llama3.2:3b",
        description="The LLM's model name on its server (Ollama's must take tools when the "
        "flow offers functions).",
    )
    llm_timeout: float = Field(
        20.0,
        gt=0.0,
        le=600.0,
        description="Seconds Ollama may go silent (before the first token or mid-answer) "
        "before the turn is given up with a spoken apology.",
    )
    llm_thinking: bool = Field(
        False,
        description="Let a thinking model reason before it answers (qwen3, deepseek-r1, "
        "gemma4...). Off: each server is asked not to, since reasoning is silence on a call; "
        "whatever reasoning still comes is never spoken.",
    )
    tool_call_limit: int = Field(
        3,
        ge=1,
        le=20,
        description="Refused or repeated tool calls in a row the LLM may make before the "
        "caller speaks again; then the step is given up and the caller is asked how to go on.",
    )

    whisper_model: str = Field(
        "tiny.en",
        description="faster-whisper size name, path to a CTranslate2 model dir, or auto "
        "(the best installed one for this machine's CPU or GPU).",
    )
    stt_url: str | None = Field(
        None,
        description="An OpenAI-compatible transcription server's base URL (e.g. "
        "faster-whisper-server/speaches: http://gpu-box:8000/v1); unset: whisper in-process.",
        json_schema_extra={"metavar": "URL"},
    )
    stt_model: str = Field(
        "Systran/faster-whisper-small.en", description="The model the STT server is asked for."
    )
    llm_url: str | None = Field(
        None,
        description="An OpenAI-compatible LLM server's base URL (vLLM, llama.cpp's server: "
        "http://gpu-box:8000/v1), asked for llm_model; unset: Ollama at OLLAMA_HOST.",
        json_schema_extra={"metavar": "URL"},
    )
    tts_url: str | None = Field(
        None,
        description="A Piper HTTP server's synthesis URL (python -m piper.http_server: "
        "http://gpu-box:5000/synthesize), asked for piper_voice; unset: Piper in-process.",
        json_schema_extra={"metavar": "URL"},
    )
    whisper_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where whisper runs: auto (CUDA when CTranslate2 sees one), cpu, cuda."
    )
    whisper_compute_type: str = Field(
        "auto", description="CTranslate2 compute type; auto = int8 on CPU, float16 on CUDA."
    )
    whisper_beam_size: int = Field(
        1,
        ge=1,
        le=10,
        description="Whisper beam size: 1 (greedy) is fastest; 5 is faster-whisper's default.",
    )
    whisper_window_s: float = Field(
        10.0,
        ge=5.0,
        le=30.0,
        description="Seconds of audio whisper's encoder reads for a short utterance (about 3x "
        "faster than 30 on CPU); unsure results are decoded again over whisper's full 30 s.",
    )
    piper_voice: str = Field(
        "en_US-joe-medium", description="Piper voice name or path to an .onnx voice."
    )
    models_dir: Path = Field(
        default_factory=lambda: _project_dir("models"),
        description="Where to look for models.",
        json_schema_extra={"default_text": "models/ of the checkout (else of the working dir)"},
    )

    flow: str = Field("helpdesk", description="Flow name (in flows_dir) or path to a flow file.")
    flows_dir: Path = Field(
        default_factory=lambda: _project_dir("flows"),
        description="Where flows are looked for by name.",
        json_schema_extra={"default_text": "flows/ of the checkout (else of the working dir)"},
    )

    avatar: Literal["auto", "tavus", "local"] = Field(
        "auto",
        description="Which avatar speaks: tavus, local, or auto (Tavus when key and replica "
        "are set).",
    )
    avatar_image: Path | None = Field(
        None,
        description="Local avatar: a frontal portrait photo to animate (else the drawn face, "
        "or the photo last chosen on the page).",
    )
    avatar_width: int = Field(1280, ge=64, le=3840, description="The avatar video's width, px.")
    avatar_height: int = Field(720, ge=64, le=2160, description="The avatar video's height, px.")
    avatar_fps: int = Field(25, ge=5, le=60, description="The avatar video's frames a second.")
    avatar_render_delay: float = Field(
        0.0, ge=0.0, le=5.0, description="Local avatar: seconds to hold audio, like Tavus does."
    )
    avatar_render_jitter: float = Field(
        0.0, ge=0.0, le=1.0, description="Local avatar: random extra hold per chunk, seconds."
    )

    tavus_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("TAVUS_API_KEY", "tavus_api_key"),
        description="Tavus API key: with a replica, the Tavus avatar speaks (never logged).",
    )
    tavus_replica_id: str | None = Field(
        None,
        validation_alias=_env("TAVUS_REPLICA_ID", "tavus_replica_id"),
        description="The Tavus replica (the face) to use.",
    )
    tavus_persona_id: str = Field(
        "pipecat0",
        validation_alias=_env("TAVUS_PERSONA_ID", "tavus_persona_id"),
        description="The Tavus persona: pipecat0 speaks the audio localagent sends.",
    )
    tavus_api_url: str = Field(
        "https://tavusapi.com/v2",
        validation_alias=_env("TAVUS_API_URL", "tavus_api_url"),
        description="Tavus's API base URL.",
        json_schema_extra={"metavar": "URL"},
    )

    tavus_join_timeout: float = Field(
        6.0, gt=0.0, description="Fail over if joining the Tavus call room takes longer."
    )
    tavus_video_timeout: float = Field(
        10.0, gt=0.0, description="Fail over to the local avatar after this long without video."
    )

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("localagent")),
        description="Where localagent keeps its own state: the sessions database, the Tavus "
        "conversation journal, the chosen portrait, a self-signed certificate.",
        json_schema_extra={"default_text": "the user data dir (~/.local/share/localagent)"},
    )

    record_sessions: bool = Field(
        True, description="Record each session (turns, flow path, calls) in data_dir."
    )

    turn_stop: Literal["auto", "speech-timeout", "smart-turn"] = Field(
        "auto",
        description="End-of-turn detection: the words weighed with pipecat's smart-turn v3 "
        "model, or a silence timeout; auto = smart-turn wherever its model loads (any CPU).",
    )
    smart_turn_stop_secs: float = Field(
        1.5,
        ge=0.2,
        le=10.0,
        description="Smart-turn: silence after VAD stop that ends a turn it judged unfinished.",
    )
    speculate: bool = Field(
        True,
        description="Start the answer (LLM and TTS) while the end of turn is still being "
        "decided, held until the turn is over; withdrawn ones cost the LLM time.",
    )
    early_stt: bool = Field(
        True,
        description="Start whisper at the first 0.06 s of silence rather than the VAD's stop "
        "(0.2 s): the transcript is ready sooner; a pause the caller goes on after wastes a "
        "decode.",
    )
    statement_wait_s: float = Field(
        STATEMENT_WAIT_S,
        ge=0.2,
        le=STATEMENT_WAIT_MAX_S,
        description="With speculate: silence after a finished-sounding statement before the "
        "turn ends (another sentence often follows); it grows for a caller who pauses longer.",
    )
    barge_in: Literal["words", "voice"] = Field(
        "words",
        description="While the bot speaks: 'words' = the caller's voice hushes it and only "
        "words interrupt (a 'yeah' or a cough lets it go on); 'voice' = any voice interrupts.",
    )
    user_speech_timeout: float = Field(
        0.6, ge=0.0, le=5.0, description="Seconds of silence that end a user turn."
    )
    max_sessions: int = Field(1, ge=1, description="Concurrent browser sessions allowed.")
    connect_timeout: float = Field(
        20.0,
        gt=0.0,
        le=55.0,  # under pipecat's own 60 s, whose close races with its own state change
        description="Seconds a browser has to connect after its offer before the call is ended.",
    )
    http_request_timeout: float = Field(
        10.0,
        ge=1.0,
        le=300.0,
        description="Seconds a connection has to send a whole HTTP request before the server "
        "closes it (idle, dribbled or endless requests).",
    )
    lan_connections_per_address: int = Field(
        16,
        ge=1,
        le=1000,
        description="Bound beyond loopback: connections one address may hold at once "
        "(this machine's own loopback is not limited); more are closed as they arrive "
        "(and with HTTPS the TLS handshake must also finish within http_request_timeout).",
    )
    lan_offers_per_minute: int = Field(
        10,
        ge=1,
        le=1000,
        description="Bound beyond loopback: call offers one address may send a minute; more "
        "get 429 with Retry-After.",
    )
    lan_failed_tokens: int = Field(
        5,
        ge=1,
        le=1000,
        description="Bound beyond loopback: wrong tokens one address may send before it is "
        "banned, 30 s at first, doubling with each ban up to 10 minutes.",
    )
    peer_silence_timeout: float = Field(
        3.0,
        ge=1.0,
        le=60.0,
        description="Seconds without a packet from a connected browser before its call is "
        "ended (a live browser sends several a second, muted or not).",
    )
    offline: bool = Field(
        False,
        description="Allow no connection off this machine (local avatar only).",
        json_schema_extra={"switch": True},
    )
    require_token: bool = Field(
        False,
        description="Ask for the per-run token on loopback too (always asked beyond loopback).",
        json_schema_extra={"switch": True},
    )
    tls_cert: Path | None = Field(
        None,
        description="PEM certificate for HTTPS (with tls_key); bound beyond loopback without "
        "one, a self-signed certificate is made under the data dir.",
    )
    tls_key: Path | None = Field(None, description="The PEM private key of tls_cert.")
    allow_origin: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Other origins (scheme://host[:port]) whose pages may call the server, "
        "CORS preflight answered for exactly these (comma-separated in the environment).",
        json_schema_extra={"metavar": "ORIGIN"},
    )
    trusted_proxy: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxy addresses (IP or CIDR) whose X-Forwarded-Host/-Proto or "
        "Forwarded headers are believed (comma-separated in the environment).",
        json_schema_extra={"metavar": "ADDR"},
    )

    @field_validator("stt_url", "llm_url", "tts_url")
    @classmethod
    def _server_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"'{url}' is not an http(s) URL, e.g. http://gpu-box:8000/v1")
        return url.strip().rstrip("/")

    @field_validator("allow_origin", "trusted_proxy", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        """A list from the environment or a file, as comma-separated text or a list."""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("allow_origin")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        checked = []
        for origin in origins:
            parts = urlsplit(origin.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(
                    f"'{origin}' is not an origin: write scheme://host[:port], "
                    "e.g. http://localhost:3000"
                )
            checked.append(f"{parts.scheme}://{parts.netloc}".lower())
        return checked

    @field_validator("trusted_proxy")
    @classmethod
    def _proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(
                    f"'{proxy}' is not an IP address or network: e.g. 127.0.0.1 or 10.0.0.0/8"
                ) from None
        return proxies

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return init_settings, env_settings, dotenv_settings, toml

    @property
    def tavus_configured(self) -> bool:
        return bool(self.tavus_api_key and self.tavus_api_key.get_secret_value())

    def wants_tavus(self) -> bool:
        """Whether the avatar stage should be Tavus for this run."""
        if self.avatar == "local" or (self.avatar == "auto" and self.offline):
            return False
        return self.tavus_configured and bool(self.tavus_replica_id)
