"""The HUD of the live window and the demo video: what the loop knows, as RGBA text panels.

Pure image functions: a ``HudInfo`` (what the live loop knows this frame) in, ``(h, w, 4)
uint8`` RGBA panels out, each tagged with its role. The renderer stacks the ``status``,
``notice`` and ``details`` panels in a corner of the camera image that the glasses and the 3D
inset leave free, and centres ``help``. By default the HUD is one status line (``HudMode``:
I cycles compact / details / off); the snapshot line (export progress, then the saved path)
and short notices sit just above it.

Text is drawn with the DejaVu Sans TrueType font that ships in the package (Pillow's
FreeType): the frame sizes use the optician's box ``□``, which the Hershey fonts of OpenCV
cannot draw. Each line is drawn into a scratch coverage mask and the panel is cut around it,
so the backing box has the same padding on every side whatever glyphs the lines hold, and a
line wider than the room it is given wraps (between words, then after a ``/`` of a path).
"""

from __future__ import annotations

import enum
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Keys and what they do, shown on the help overlay (? or H) and in the README.
HELP_LINES = (
    ("S", "snapshot the face to a printable bust"),
    ("G", "next accessory"),
    ("M", "mesh view: off / wireframe / shaded / textured"),
    ("V", "3D view: inset / split / off (drag to orbit)"),
    ("R", "reset fusion"),
    ("I", "HUD: one line / details / off"),
    ("Space", "pause"),
    ("? or H", "this help"),
    ("Esc or Q", "quit"),
)

# DejaVu Sans (Bitstream Vera licence, LICENSE-DejaVu.txt beside it): a wide Unicode cover
# (□, ×, °, Latin, Greek, Cyrillic paths) with digits of one width, so numbers that change
# every refresh do not make the line's end jump.
FONT_PATH = Path(__file__).resolve().parent.parent / "data" / "fonts" / "DejaVuSans.ttf"
# Text metrics at 720 lines of output, scaled with the output height (not below 0.6: 10 px
# type is the smallest that stays readable on a 480-line window).
_BASE_HEIGHT_PX = 720
_MIN_SCALE = 0.6
_FONT_PX = 16        # em size: ~12 px capitals, small next to a face yet readable
_LINE_GAP_PX = 5     # leading between the descender of one line and the ascender of the next
_PAD_PX = 7          # backing panel margin around the text's ink, every side
_COLUMN_GAP_PX = 16  # between the key and its description on the help panel
_PANEL_ALPHA = 150   # backing panel opacity: text stays readable on a bright frame
_HELP_SCALE = 1.15   # the help overlay is read once, at arm's length: a little larger
# Ink may reach past a line's advance width (side bearings, antialiasing): room kept for it
# when wrapping to a panel width.
_INK_OVERHANG_PX = 2
# Columns (label, value) are kept while the value column has at least this fraction of the
# panel's width; narrower, every row is one line that wraps.
_MIN_COLUMN_ROOM = 0.5
# Status items are joined with this: a middle dot reads as a separator, not as punctuation.
STATUS_SEPARATOR = "  \u00b7  "
# The glyphs whose drawn extent is a line's box: letters and digits. Capitals, ascenders,
# round overshoots and descenders all fall inside it; brackets, '|' and '/' overhang it.
_LINE_BOX_GLYPHS = string.ascii_letters + string.digits
# Colours of the panels' text (RGB): status white, notices (snapshot, messages) warm yellow.
STATUS_COLOR = (255, 255, 255)
NOTICE_COLOR = (255, 230, 140)


class HudMode(str, enum.Enum):
    """How much HUD the window shows (I cycles)."""

    COMPACT = "compact"  # one status line (plus the snapshot line and notices)
    DETAILS = "details"  # adds the per-stage timings, provider, tracking and view
    OFF = "off"          # nothing but notices (and help when asked)

    def next(self) -> "HudMode":
        members = list(HudMode)
        return members[(members.index(self) + 1) % len(members)]


@dataclass(frozen=True)
class HudInfo:
    """What the HUD shows. ``timings_ms``: per-stage milliseconds; ``pd_mm``: pupillary
    distance in mm or None; ``face``: a face is tracked; ``bust``: the snapshot line (export
    progress, then the saved path; empty: none); ``messages``: recent notices, newest last;
    ``extra``: more short status items (a few words each, e.g. ``"scan 64%"``) that follow the
    built-in ones on the status line, which wraps where the camera image is narrow."""

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
    mode: HudMode = HudMode.COMPACT
    face: bool = True
    bust: str = ""
    extra: tuple[str, ...] = ()


def status_items(info: HudInfo) -> list[str]:
    """The compact status line's items, left to right: frame rate, state, PD, glasses, the
    caller's ``extra`` items, then the keys that open more."""
    items = [f"{info.fps:.0f} FPS"]
    if info.paused:
        items.append("PAUSED")
    if not info.face:
        items.append("no face")
    elif info.pd_mm is not None:
        items.append(f"PD {info.pd_mm:.1f} mm")
    if info.glasses:
        items.append(info.glasses)
    items.extend(info.extra)
    items.append("? help")
    return items


def details_rows(info: HudInfo) -> list[tuple[str, str]]:
    """The details panel (``HudMode.DETAILS``): ``(label, value)`` rows."""
    rows = []
    if info.timings_ms:
        rows.append(("ms", "  ".join(f"{k} {v:.1f}" for k, v in info.timings_ms.items())))
    if info.provider:
        rows.append(("provider", info.provider))
    if info.tracking:
        rows.append(("tracking", info.tracking))
    if info.view:
        rows.append(("view", info.view))
    rows.append(("I", "HUD: one line / details / off"))
    return rows


def hud_scale(output_height: int) -> float:
    """Text scale for an output ``output_height`` pixels tall: 1.0 at 720 lines."""
    return max(_MIN_SCALE, output_height / _BASE_HEIGHT_PX)


@lru_cache(maxsize=16)
def hud_font(size_px: int) -> ImageFont.FreeTypeFont:
    """The HUD's font at ``size_px`` pixels per em."""
    return ImageFont.truetype(str(FONT_PATH), size_px)


@lru_cache(maxsize=16)
def line_box(size_px: int) -> tuple[int, int]:
    """Rows of ink above and below the baseline (pixels, baseline row excluded) of letters
    and digits at ``size_px``: the line box every line's padding is measured from (so "saved"
    and "gyp" panels are the same height)."""
    font = hud_font(size_px)
    left, top, right, bottom = font.getbbox(_LINE_BOX_GLYPHS, anchor="ls")
    return -top, bottom - 1


def _metrics(scale: float) -> tuple[ImageFont.FreeTypeFont, int, int, int, int, int]:
    """Font, ascent, descent (line box), pitch, padding and column gap at ``scale``, pixels."""
    size = max(6, int(round(_FONT_PX * scale)))
    ascent, descent = line_box(size)
    pitch = ascent + descent + 1 + max(1, int(round(_LINE_GAP_PX * scale)))
    return hud_font(size), ascent, descent, pitch, max(1, int(round(_PAD_PX * scale))), int(round(_COLUMN_GAP_PX * scale))


def _split_long_word(word: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    """A word wider than ``width`` in pieces: after a path separator where one falls in the
    line, else after a hyphen or underscore (a file name's parts), else where the width ends."""
    pieces, current = [], ""
    for ch in word:
        if current and font.getlength(current + ch) > width:
            for breaks in ("/\\", "-_"):
                cut = max(current.rfind(b) for b in breaks)
                if 0 < cut < len(current) - 1:  # break after the last one that fits
                    pieces.append(current[:cut + 1])
                    current = current[cut + 1:]
                    break
            else:
                pieces.append(current)
                current = ""
        current += ch
    return pieces + [current] if current else pieces


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: float | None) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels (None: one line): broken between
    words, a longer word after the ``/`` of a path or, failing that, between characters.
    Every line holds at least one character, so the result is never wider than the widest
    single character."""
    if width is None or font.getlength(text) <= width:
        return [text]
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        pieces = _split_long_word(word, font, width) if font.getlength(word) > width else [word]
        lines.extend(pieces[:-1])
        current = pieces[-1] if pieces else ""
    if current:
        lines.append(current)
    return lines


def wrap_items(items: Sequence[str], font: ImageFont.FreeTypeFont, width: float | None,
               separator: str = STATUS_SEPARATOR) -> list[str]:
    """Status items joined by ``separator`` into as few lines as fit ``width``; an item is
    never split between lines unless it is wider than a line on its own."""
    lines: list[str] = []
    for item in items:
        if lines and (width is None or font.getlength(lines[-1] + separator + item) <= width):
            lines[-1] += separator + item
        else:
            lines.extend(wrap_text(item, font, width))
    return lines


def text_panel(
    lines: Sequence[str | Sequence[str]], scale: float, color: tuple[int, int, int] = STATUS_COLOR,
    max_width_px: int | None = None,
) -> np.ndarray:
    """A panel of text lines on a translucent dark backing, ``(h, w, 4) uint8`` RGBA, read-only
    (panels are cached: the help and the details change rarely, the status line often).
    See ``_text_panel``."""
    rows = tuple((line,) if isinstance(line, str) else tuple(line) for line in lines)
    return _text_panel(rows, float(scale), tuple(color), max_width_px)


# Panels kept: the help, details and notices of the last few states (the status line's
# numbers change every refresh and simply cycle through).
_PANEL_CACHE_SIZE = 32


@lru_cache(maxsize=_PANEL_CACHE_SIZE)
def _text_panel(
    rows: tuple[tuple[str, ...], ...], scale: float, color: tuple[int, int, int], max_width_px: int | None,
) -> np.ndarray:
    """A panel of text lines on a translucent dark backing, ``(h, w, 4) uint8`` RGBA.

    ``rows``: top to bottom; a row is a tuple of cells (one for a plain line) drawn as left-aligned
    columns (a row's last cell may run past the columns of other rows). ``scale``: 1.0 at
    720 output lines. ``max_width_px``: the widest the panel may be (None: no limit); longer
    lines wrap (``wrap_text``; a row's last cell wraps inside its column). The panel is
    ``pad`` pixels larger than the text on every side: horizontally around the ink,
    vertically around the letters' and digits' line box (``line_box``) or the ink where it
    goes beyond it (brackets, slashes). Nothing is clipped.
    """
    font, ascent, descent, pitch, pad, gap = _metrics(scale)
    rows = list(rows)
    if not rows:
        alpha = np.full((2 * pad, 2 * pad), _PANEL_ALPHA, np.uint8)
        empty = np.dstack([np.zeros_like(alpha)] * 3 + [alpha])
        empty.flags.writeable = False
        return empty
    n_cols = max(len(r) for r in rows)
    col_w = [max([int(np.ceil(font.getlength(r[c]))) for r in rows if c < len(r) - 1], default=0) for c in range(n_cols)]
    col_x = [0]
    for c in range(n_cols - 1):
        col_x.append(col_x[-1] + col_w[c] + gap)

    # Each cell's text and position, the last cell of a row wrapped into the room left.
    text_width = None if max_width_px is None else max(1, max_width_px - 2 * pad - _INK_OVERHANG_PX)
    if text_width is not None and n_cols > 1 and text_width - col_x[-1] < _MIN_COLUMN_ROOM * text_width:
        # Too narrow for columns: each row becomes one line, label and value side by side.
        rows = [("  ".join(row),) for row in rows]
        n_cols, col_x = 1, [0]
    placed: list[tuple[int, int, str]] = []  # (line index, x, text)
    line_index = 0
    for row in rows:
        height = 1
        for c, cell in enumerate(row):
            x = col_x[c]
            room = None if text_width is None or c < len(row) - 1 else max(1, text_width - x)
            wrapped = wrap_text(cell, font, room)
            for k, text in enumerate(wrapped):
                placed.append((line_index + k, x, text))
            height = max(height, len(wrapped))
        line_index += height
    n_lines = line_index

    # Scratch coverage mask with room on every side for glyphs that overhang their box.
    slack = ascent + descent + 2
    width = max(x + int(np.ceil(font.getlength(text))) for _, x, text in placed)
    canvas = Image.new("L", (2 * slack + width, 2 * slack + ascent + descent + 1 + pitch * (n_lines - 1)), 0)
    draw = ImageDraw.Draw(canvas)
    for k, x, text in placed:
        draw.text((slack + x, slack + ascent + k * pitch), text, fill=255, font=font, anchor="ls")
    coverage = np.asarray(canvas)

    # Line box of the first line's top to the last line's bottom, both rows included.
    top, bottom = slack, slack + ascent + pitch * (n_lines - 1) + descent + 1
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
    # Text over the backing: colour and opacity rise with coverage.
    inner[..., :3] = np.round(ink[..., None] * np.asarray(color, np.float32)).astype(np.uint8)
    inner[..., 3] = np.round(_PANEL_ALPHA + (255 - _PANEL_ALPHA) * ink).astype(np.uint8)
    panel.flags.writeable = False
    return panel


def hud_panels(info: HudInfo, output_height: int, max_width_px: int | None = None) -> list[tuple[np.ndarray, str]]:
    """HUD panels with their role: ``(rgba, role)``, role ``status`` (the compact line),
    ``notice`` (the snapshot line and messages), ``details`` or ``help``, in stacking order
    from the corner outwards (help last: centred, over everything).

    ``max_width_px``: the widest a stacked panel may be, pixels (the camera image's width
    less margins and the 3D inset: the renderer knows it); the status items and long paths
    wrap to it. The help panel is limited to the output's width only by its own length.
    """
    scale = hud_scale(output_height)
    panels = []
    if info.mode != HudMode.OFF:
        font = _metrics(scale)[0]
        pad = _metrics(scale)[4]
        room = None if max_width_px is None else max(1, max_width_px - 2 * pad - _INK_OVERHANG_PX)
        panels.append((text_panel(wrap_items(status_items(info), font, room), scale, STATUS_COLOR, max_width_px), "status"))
    notices = ([info.bust] if info.bust and info.mode != HudMode.OFF else []) + list(info.messages)
    if notices:
        panels.append((text_panel(notices, scale, NOTICE_COLOR, max_width_px), "notice"))
    if info.mode == HudMode.DETAILS:
        panels.append((text_panel(details_rows(info), scale, STATUS_COLOR, max_width_px), "details"))
    if info.show_help:
        # Columns, not padded strings: the font is proportional, spaces do not align.
        rows: list[str | tuple[str, str]] = ["Keys", *HELP_LINES]
        panels.append((text_panel(rows, scale * _HELP_SCALE), "help"))
    return panels
