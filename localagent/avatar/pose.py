"""One frame's expression: what both faces (the drawn one and a portrait) are told to show."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pose"]


@dataclass(frozen=True, slots=True)
class Pose:
    jaw: float = 0.0  # mouth opening, 0 closed .. 1 wide open
    spread: float = 0.0  # lips: -1 rounded ("oo") .. 1 spread ("ee")
    shut: float = 0.0  # lips pressed together ("m", "b", "p"), 0 .. 1, over a parted photo
    blink: float = 0.0  # eyelids, 0 open .. 1 closed
    gaze: float = 0.0  # eyes left/right, -1 .. 1 (a small shift, not a stare to the side)
    brow: float = 0.0  # eyebrows raised, 0 .. 1
    head_x: float = 0.0  # head offset, pixels of the frame
    head_y: float = 0.0
    roll: float = 0.0  # head tilt, radians
