"""A drawn face whose mouth and eyes can be set per frame, cheaply.

Everything is drawn once with PIL at start-up; a frame is a copy of the base image with
an eye patch and a mouth patch pasted in, cropped with a small offset for head motion.
That keeps 1280x720 well under a millisecond or two per frame on one core.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from localagent.avatar.pose import Pose

__all__ = ["Face"]

MOUTH_LEVELS = 8
_SKIN = (224, 172, 140)
_HAIR = (58, 40, 32)
_LIP = (168, 74, 78)
_MOUTH = (70, 20, 28)
_SHIRT = (46, 84, 140)


class Face:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.margin = max(2, height // 90)  # room for the head to move
        self._canvas_w, self._canvas_h = width + 2 * self.margin, height + 2 * self.margin
        s = height / 720.0
        cx, cy = self._canvas_w // 2, self._canvas_h // 2 - int(30 * s)
        self._s, self._cx, self._cy = s, cx, cy
        self.face_width = 230.0 * s  # what the shared motions are sized for, at this scale

        base = self._draw_base()
        self._canvas = np.asarray(base, dtype=np.uint8).copy()  # the frame being drawn

        # Patch boxes (x0, y0, x1, y1) in canvas coordinates.
        ew, eh = int(70 * s), int(40 * s)
        self._eyes_box = (
            cx - int(130 * s),
            cy - int(70 * s),
            cx + int(130 * s),
            cy - int(70 * s) + 2 * eh,
        )
        mw, mh = int(95 * s), int(60 * s)
        self._mouth_box = (cx - mw, cy + int(95 * s) - mh // 3, cx + mw, cy + int(95 * s) + mh)
        self._eye_patches = [self._draw_eyes(base, blink) for blink in (0.0, 0.5, 1.0)]
        self._mouth_patches = [
            self._draw_mouth(base, i / (MOUTH_LEVELS - 1)) for i in range(MOUTH_LEVELS)
        ]
        del ew
        self._last: tuple[tuple[int, int, int, int], bytes] | None = None  # key, picture

    # -- drawing (start-up only) -------------------------------------------------------------

    def _draw_base(self) -> Image.Image:
        w, h, s, cx, cy = self._canvas_w, self._canvas_h, self._s, self._cx, self._cy
        top, bottom = np.array([236, 240, 246]), np.array([186, 198, 214])
        ramp = np.linspace(0, 1, h)[:, None, None]
        bg = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(w, axis=1)
        img = Image.fromarray(bg, "RGB")
        d = ImageDraw.Draw(img)
        # shoulders and neck
        d.ellipse(
            (cx - int(330 * s), cy + int(230 * s), cx + int(330 * s), cy + int(700 * s)),
            fill=_SHIRT,
        )
        d.rectangle(
            (cx - int(60 * s), cy + int(150 * s), cx + int(60 * s), cy + int(290 * s)),
            fill=tuple(int(c * 0.9) for c in _SKIN),
        )
        # hair behind, head, ears
        d.ellipse(
            (cx - int(185 * s), cy - int(250 * s), cx + int(185 * s), cy + int(120 * s)), fill=_HAIR
        )
        for side in (-1, 1):
            ex = cx + side * int(165 * s)
            d.ellipse(
                (ex - int(25 * s), cy - int(20 * s), ex + int(25 * s), cy + int(55 * s)), fill=_SKIN
            )
        d.ellipse(
            (cx - int(160 * s), cy - int(200 * s), cx + int(160 * s), cy + int(210 * s)), fill=_SKIN
        )
        # fringe
        d.chord(
            (cx - int(170 * s), cy - int(250 * s), cx + int(170 * s), cy - int(40 * s)),
            180,
            360,
            fill=_HAIR,
        )
        # brows and nose
        for side in (-1, 1):
            bx = cx + side * int(65 * s)
            d.line(
                (bx - int(35 * s), cy - int(85 * s), bx + int(35 * s), cy - int(90 * s)),
                fill=_HAIR,
                width=max(2, int(9 * s)),
            )
        d.line(
            (
                cx,
                cy - int(20 * s),
                cx - int(12 * s),
                cy + int(45 * s),
                cx + int(8 * s),
                cy + int(50 * s),
            ),
            fill=(190, 130, 105),
            width=max(2, int(5 * s)),
        )
        return img.filter(ImageFilter.GaussianBlur(radius=max(0.5, 1.2 * s)))

    def _draw_eyes(self, base: Image.Image, blink: float) -> np.ndarray:
        x0, y0, x1, y1 = self._eyes_box
        patch = base.crop((x0, y0, x1, y1))
        d = ImageDraw.Draw(patch)
        s = self._s
        pw, ph = x1 - x0, y1 - y0
        for side in (-1, 1):
            ex, ey = pw // 2 + side * int(65 * s), ph // 2
            rw, rh = int(32 * s), max(1, int(18 * s * (1 - blink)))
            if blink < 1.0:
                d.ellipse((ex - rw, ey - rh, ex + rw, ey + rh), fill=(250, 250, 250))
                ir = min(int(14 * s), rh)
                d.ellipse((ex - ir, ey - ir, ex + ir, ey + ir), fill=(70, 90, 60))
                pr = max(1, ir // 2)
                d.ellipse((ex - pr, ey - pr, ex + pr, ey + pr), fill=(15, 15, 15))
            d.arc(
                (ex - rw, ey - int(18 * s), ex + rw, ey + int(18 * s)),
                180,
                360,
                fill=(90, 60, 50),
                width=max(1, int(4 * s)),
            )
            if blink > 0:
                d.line((ex - rw, ey, ex + rw, ey), fill=(120, 80, 70), width=max(1, int(4 * s)))
        return np.asarray(patch, dtype=np.uint8).copy()

    def _draw_mouth(self, base: Image.Image, openness: float) -> np.ndarray:
        x0, y0, x1, y1 = self._mouth_box
        patch = base.crop((x0, y0, x1, y1))
        d = ImageDraw.Draw(patch)
        s = self._s
        pw = x1 - x0
        mx, my = pw // 2, int(30 * s)
        half_w = int((58 - 10 * openness) * s)
        gap = int(44 * s * openness)
        lip = max(2, int(9 * s))
        if gap > 1:
            d.ellipse((mx - half_w, my - gap // 3, mx + half_w, my + gap), fill=_MOUTH)
            d.rectangle(
                (
                    mx - half_w // 2,
                    my - gap // 3,
                    mx + half_w // 2,
                    my - gap // 3 + max(1, gap // 6),
                ),
                fill=(235, 235, 230),
            )
            d.arc(
                (mx - half_w, my - gap // 3 - lip // 2, mx + half_w, my + gap + lip // 2),
                0,
                360,
                fill=_LIP,
                width=lip,
            )
        else:
            d.line((mx - half_w, my, mx + half_w, my), fill=_LIP, width=lip)
        return np.asarray(patch, dtype=np.uint8).copy()

    # -- per frame ---------------------------------------------------------------------------

    def draw(self, pose: Pose) -> bytes:
        """The frame for `pose`, as far as a drawing can show it."""
        return self.render(pose.jaw, pose.blink, round(pose.head_x), round(pose.head_y))

    def render(self, mouth: float, blink: float, dx: int, dy: int) -> bytes:
        """RGB bytes of one frame: mouth and blink in [0, 1], head offset in pixels.

        A picture the same as the last one comes back as the same bytes object, undrawn:
        an idle face repeats most frames, and the video track skips a repeat by identity.
        """
        level = min(MOUTH_LEVELS - 1, max(0, round(mouth * (MOUTH_LEVELS - 1))))
        eye = 0 if blink < 0.25 else (1 if blink < 0.75 else 2)
        m = self.margin
        ox, oy = m + max(-m, min(m, dx)), m + max(-m, min(m, dy))
        key = (level, eye, ox, oy)
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        # The patches cover their boxes whole, so pasting them over the last frame's
        # leaves no trace of it: one copy per frame (the crop), not two.
        canvas = self._canvas
        x0, y0, x1, y1 = self._mouth_box
        canvas[y0:y1, x0:x1] = self._mouth_patches[level]
        x0, y0, x1, y1 = self._eyes_box
        canvas[y0:y1, x0:x1] = self._eye_patches[eye]
        image = canvas[oy : oy + self.height, ox : ox + self.width].tobytes()
        self._last = key, image
        return image
