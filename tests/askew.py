"""What the tests of levelling (``realtime.stages.level``) read off a written bust. The photos they
turn are ``realtime.tools.likeness.turned_photo``'s, the benchmark's."""

import numpy as np


def bust_up_lean_deg(bust_view) -> float:
    """How far the written file's up (+z) leans in the photo, degrees, positive with its top to the
    right: from a report's ``bust_view`` ``(3, 4)`` (file mm -> photo pixels)."""
    up = np.asarray(bust_view, np.float64)[:2, 2]
    return float(np.degrees(np.arctan2(up[0], -up[1])))
