"""HUD and help panel as RGBA images, drawn with OpenCV text and uploaded as overlay quads.

Pure image functions: a ``HudInfo`` (what the live loop knows this frame) in, ``(h, w, 4)
uint8`` RGBA panels out. The renderer draws them over the composite with alpha blending.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
_LINE_PX = 22
_PAD_PX = 8
_PANEL_ALPHA = 150  # backing panel opacity: text stays readable on a bright frame


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
    """The HUD's status lines, top to bottom."""
    lines = [f"{info.fps:5.1f} FPS" + ("   PAUSED" if info.paused else "")]
    if info.timings_ms:
        lines.append("  ".join(f"{k} {v:.1f}" for k, v in info.timings_ms.items()) + " ms")
    if info.provider:
        lines.append(f"provider: {info.provider}")
    lines.append("PD: " + (f"{info.pd_mm:.1f} mm" if info.pd_mm is not None else "--"))
    if info.tracking:
        lines.append(f"tracking: {info.tracking}")
    if info.glasses:
        # Hershey fonts have no box glyph: "50□20-145" is shown as "50[]20-145".
        lines.append(f"glasses: {info.glasses}".replace("\u25a1", "[]"))
    if info.view:
        lines.append(f"view: {info.view}")
    lines.append("? or H: help")
    return lines


def text_panel(lines: list[str], scale: float, color: tuple[int, int, int] = (255, 255, 255)) -> np.ndarray:
    """A panel of text lines on a translucent dark backing, ``(h, w, 4) uint8`` RGBA."""
    font_scale = _FONT_SCALE * scale
    thickness = max(1, int(round(scale)))
    line_px = int(round(_LINE_PX * scale))
    pad = int(round(_PAD_PX * scale))
    widths = [cv2.getTextSize(t, _FONT, font_scale, thickness)[0][0] for t in lines] or [0]
    h = pad * 2 + line_px * len(lines)
    w = pad * 2 + max(widths)
    panel = np.zeros((h, w, 4), np.uint8)
    panel[..., 3] = _PANEL_ALPHA
    for k, text in enumerate(lines):
        baseline = pad + line_px * (k + 1) - int(line_px * 0.3)
        cv2.putText(panel, text, (pad, baseline), _FONT, font_scale, (*color, 255), thickness, cv2.LINE_AA)
    return panel


def hud_panels(info: HudInfo, output_height: int) -> list[tuple[np.ndarray, str]]:
    """HUD panels with where they go: ``(rgba, anchor)``, anchor ``top-left``,
    ``bottom-left`` (messages) or ``centre`` (help)."""
    scale = max(0.6, output_height / _BASE_HEIGHT_PX)
    panels = [(text_panel(hud_lines(info), scale), "top-left")]
    if info.messages:
        panels.append((text_panel(list(info.messages), scale, (255, 230, 140)), "bottom-left"))
    if info.show_help:
        width = max(len(k) for k, _ in HELP_LINES)
        lines = ["Keys"] + [f"{k.ljust(width)}  {text}" for k, text in HELP_LINES]
        panels.append((text_panel(lines, scale * 1.15), "centre"))
    return panels
