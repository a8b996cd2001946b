"""HUD and help panel as RGBA images, drawn with OpenCV text and uploaded as overlay quads.

Pure image functions: a ``HudInfo`` (what the live loop knows this frame) in, ``(h, w, 4)
uint8`` RGBA panels out. The renderer draws them over the composite with alpha blending.
Text is drawn into a scratch coverage mask first and the panel is cut around it, so the
backing box has the same padding on every side whatever glyphs (descenders, brackets,
negative side bearings) the lines hold.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

# Keys and what they do, shown on the help overlay (? or H) and in the README.
HELP_LINES = (
    ("S", "snapshot the face to a printable bust"),
    ("G", "next glasses"),
    ("M", "mesh view: off / wireframe / shaded / textured"),
    ("V", "3D view: inset / split / off (drag to orbit)"),
    ("R", "reset fusion"),
    ("Space", "pause"),
    ("? or H", "this help"),
    ("Esc or Q", "quit"),
)
# Text metrics at 720 lines of output; scaled with the output height.
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BASE_HEIGHT_PX = 720
_FONT_SCALE = 0.52
_LINE_PX = 22        # baseline to baseline: cap height 12 + descender 5 + 5 of leading
_PAD_PX = 8          # backing panel margin around the text's ink, every side
_COLUMN_GAP_PX = 16  # between the key and its description on the help panel
_PANEL_ALPHA = 150  # backing panel opacity: text stays readable on a bright frame

# Hershey fonts draw printable ASCII only; anything else comes out as a '?' box. Characters
# our own strings use get a readable ASCII spelling (optician's box notation "50□20-145",
# degrees, dimensions); other text falls back to its unaccented letters or '?'.
_ASCII_SPELLING = {
    "\u25a1": "[]",     # □ box notation: lens width □ bridge width
    "\u00b0": " deg",   # °
    "\u00d7": "x",      # ×
    "\u2013": "-",      # – en dash
    "\u2014": "-",      # — em dash
    "\u2212": "-",      # − minus sign
    "\u00b1": "+/-",    # ±
    "\u00b5": "u",      # µ micro sign
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2026": "...",    # …
}
_UNKNOWN = "?"
# The glyphs whose drawn extent is a line's box: letters and digits. Capitals, ascenders,
# round overshoots and descenders all fall inside it; brackets, '|' and '/' overhang it.
_LINE_BOX_GLYPHS = string.ascii_letters + string.digits


def hershey_text(text: str) -> str:
    """``text`` spelled in printable ASCII (0x20-0x7E), the only characters ``cv2.putText``
    draws: known symbols get an ASCII spelling, accented letters lose the accent,
    whitespace becomes a space and anything else becomes ``'?'``."""
    out = []
    for ch in text:
        if " " <= ch <= "~":
            out.append(ch)
        elif ch in _ASCII_SPELLING:
            out.append(_ASCII_SPELLING[ch])
        elif ch.isspace():
            out.append(" ")
        else:
            # "é" -> "e" + combining accent: keep the base letter when that is plain ASCII.
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and all(" " <= c <= "~" for c in base) else _UNKNOWN)
    return "".join(out)


@dataclass(frozen=True)
class HudInfo:
    """What the HUD shows. ``timings_ms``: per-stage milliseconds; ``pd_mm``: pupillary
    distance in mm or None; ``messages``: recent notices, newest last."""

    fps: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    provider: str = ""
    pd_mm: float | None = None
    tracking: str = ""
    glasses: str = ""
    view: str = ""
    messages: tuple[str, ...] = ()
    show_help: bool = False
    paused: bool = False


def hud_lines(info: HudInfo) -> list[str]:
    """The HUD's status lines, top to bottom (Unicode; ``text_panel`` spells them in ASCII)."""
    lines = [f"{info.fps:5.1f} FPS" + ("   PAUSED" if info.paused else "")]
    if info.timings_ms:
        lines.append("  ".join(f"{k} {v:.1f}" for k, v in info.timings_ms.items()) + " ms")
    if info.provider:
        lines.append(f"provider: {info.provider}")
    lines.append("PD: " + (f"{info.pd_mm:.1f} mm" if info.pd_mm is not None else "--"))
    if info.tracking:
        lines.append(f"tracking: {info.tracking}")
    if info.glasses:
        lines.append(f"glasses: {info.glasses}")
    if info.view:
        lines.append(f"view: {info.view}")
    lines.append("? or H: help")
    return lines


@lru_cache(maxsize=32)
def line_box(font_scale: float, thickness: int) -> tuple[int, int]:
    """Rows of ink above and below the baseline (pixels, baseline row excluded) of letters
    and digits drawn at ``font_scale`` and ``thickness``.

    Measured from the drawn ink: ``cv2.getTextSize``'s height and baseline miss it by a
    pixel either way depending on scale and thickness (round glyphs overshoot the cap line,
    thick strokes grow both ways), which shows as uneven padding.
    """
    (width, height), baseline = cv2.getTextSize(_LINE_BOX_GLYPHS, _FONT, font_scale, thickness)
    room = height + baseline + 2 * thickness + 2  # the drawn ink stays inside this
    canvas = np.zeros((2 * room, width + 2 * room), np.uint8)
    cv2.putText(canvas, _LINE_BOX_GLYPHS, (room, room), _FONT, font_scale, 255, thickness, cv2.LINE_AA)
    ys = np.nonzero(canvas.any(axis=1))[0]
    return room - int(ys.min()), int(ys.max()) - room


def text_panel(
    lines: Sequence[str | Sequence[str]], scale: float, color: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """A panel of text lines on a translucent dark backing, ``(h, w, 4) uint8`` RGBA.

    ``lines``: top to bottom; a line is a string or a tuple of cells drawn as left-aligned
    columns (a row's last cell may run past the columns of other rows). ``scale``: 1.0 at
    720 output lines. The panel is ``pad`` pixels larger than the text on every side:
    horizontally around the ink, vertically around the letters' and digits' line box
    (``line_box``: so "saved" and "gyp" panels are the same height) or the ink where it goes
    beyond it (brackets, slashes). Nothing is clipped.
    """
    font_scale = _FONT_SCALE * scale
    thickness = max(1, int(round(scale)))
    pitch = max(1, int(round(_LINE_PX * scale)))
    pad = max(1, int(round(_PAD_PX * scale)))
    gap = int(round(_COLUMN_GAP_PX * scale))
    rows = [tuple(hershey_text(c) for c in ((line,) if isinstance(line, str) else line)) for line in lines]
    panel_alpha = np.full((2 * pad, 2 * pad), _PANEL_ALPHA, np.uint8)
    if not rows:
        return np.dstack([np.zeros_like(panel_alpha)] * 3 + [panel_alpha])

    def advance(text: str) -> int:
        return cv2.getTextSize(text, _FONT, font_scale, thickness)[0][0]

    ascent, descent = line_box(font_scale, thickness)
    n_cols = max(len(r) for r in rows)
    col_w = [max([advance(r[c]) for r in rows if c < len(r) - 1], default=0) for c in range(n_cols)]
    col_x = np.concatenate([[0], np.cumsum(np.asarray(col_w[:-1], int) + gap)]).astype(int)

    # Scratch coverage mask with room on every side for glyphs that overhang their box.
    slack = ascent + 2 * thickness + 2
    width = max(int(col_x[len(r) - 1]) + advance(r[-1]) for r in rows)
    coverage = np.zeros((2 * slack + ascent + descent + pitch * (len(rows) - 1), 2 * slack + width), np.uint8)
    for k, row in enumerate(rows):
        baseline_y = slack + ascent + k * pitch
        for c, text in enumerate(row):
            origin = (slack + int(col_x[c]), baseline_y)
            cv2.putText(coverage, text, origin, _FONT, font_scale, 255, thickness, cv2.LINE_AA)

    # Line box of the first line's top to the last line's bottom, both rows included.
    top, bottom = slack, slack + ascent + pitch * (len(rows) - 1) + descent + 1
    ys, xs = np.nonzero(coverage)
    if len(xs):
        top, bottom = min(top, int(ys.min())), max(bottom, int(ys.max()) + 1)
        left, right = int(xs.min()), int(xs.max()) + 1
    else:  # only blank lines: the line box, no width
        left = right = slack
    ink = coverage[top:bottom, left:right].astype(np.float32) / 255.0

    h, w = bottom - top + 2 * pad, right - left + 2 * pad
    panel = np.zeros((h, w, 4), np.uint8)
    panel[..., 3] = _PANEL_ALPHA
    inner = panel[pad:h - pad, pad:w - pad]
    # Same as antialiased putText onto the panel: colour and opacity rise with coverage.
    inner[..., :3] = np.round(ink[..., None] * np.asarray(color, np.float32)).astype(np.uint8)
    inner[..., 3] = np.round(_PANEL_ALPHA + (255 - _PANEL_ALPHA) * ink).astype(np.uint8)
    return panel


def hud_panels(info: HudInfo, output_height: int) -> list[tuple[np.ndarray, str]]:
    """HUD panels with where they go: ``(rgba, anchor)``, anchor ``top-left``,
    ``bottom-left`` (messages) or ``centre`` (help)."""
    scale = max(0.6, output_height / _BASE_HEIGHT_PX)
    panels = [(text_panel(hud_lines(info), scale), "top-left")]
    if info.messages:
        panels.append((text_panel(list(info.messages), scale, (255, 230, 140)), "bottom-left"))
    if info.show_help:
        # Columns, not padded strings: the Hershey font is proportional, spaces do not align.
        rows: list[str | tuple[str, str]] = ["Keys", *HELP_LINES]
        panels.append((text_panel(rows, scale * 1.15), "centre"))
    return panels
