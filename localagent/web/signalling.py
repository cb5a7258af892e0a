"""The signalling bodies: SmallWebRTC's offer and ICE candidates, as pipecat's runner
spells them, checked before anything reaches aiortc (sizes, types, valid Unicode)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_SDP_BYTES", "CandidateBody", "OfferBody", "PatchBody"]

MAX_SDP_BYTES = 64 * 1024


def _has_lone_surrogates(value: Any, depth: int = 0) -> bool:
    """JSON may spell text that is not Unicode ("\\ud800"); it could never be echoed back."""
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if depth > 32:
        return False
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return False
    return any(_has_lone_surrogates(v, depth + 1) for v in items)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _only_text(cls, data: Any) -> Any:
        if _has_lone_surrogates(data):
            raise ValueError("the body has text that is not valid Unicode (a lone surrogate)")
        return data


class OfferBody(_Body):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_BYTES)
    type: str
    pc_id: str | None = Field(None, max_length=200)
    restart_pc: bool | None = None
    request_data: Any | None = Field(None, alias="requestData")


class CandidateBody(BaseModel):
    candidate: str = Field(max_length=4096)
    sdp_mid: str = Field(max_length=64)
    sdp_mline_index: int = Field(ge=0, le=64)


class PatchBody(_Body):
    pc_id: str = Field(max_length=200)
    candidates: list[CandidateBody] = Field(max_length=64)
