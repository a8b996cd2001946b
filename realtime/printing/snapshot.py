"""A bust from a fused face and the frame it was seen in: what the live window's S key, the demo
and ``bench --bust`` make, in one place.

In: the fused identity (``(468, 3)`` mm, fusion's canonical frame), the frame (BGR) and the face's
pixels in it, optionally a head scan (``realtime.stages.scan.ScanResult``) and a person segmenter to reuse.
Out: ``realtime.printing.bust.BustResult``. The frame's person mask gives the hair, neck and shoulders; a
scan that saw enough of the head gives its sides and back. The live window tracks one face: other
people in the frame are found here (``other_faces_in_frame``), so that the mask leaves them out.
"""

from __future__ import annotations

import numpy as np

from realtime import topology
from realtime.shapes import check_shape


def snapshot_bust(identity_mm: np.ndarray, image: np.ndarray | None = None, vertices_px: np.ndarray | None = None,
                  options=None, scan=None, segmenter=None, person=None, progress=None):
    """Build the bust of a fused face (see the module text).

    identity_mm: ``(468, 3)`` mm.  image: ``(H, W, 3) uint8`` BGR, the frame.  vertices_px:
    ``(468, 2+)`` the face in it.  options: ``BustOptions`` (None: the defaults).  scan: a
    ``ScanResult`` (used when it is ``ready``).  segmenter: a ``PersonSegmenter`` to reuse (None:
    one is made for the frame).  person: the frame's ``PersonMask`` if already known.
    progress: called with each stage's name (for a HUD), or None.
    """
    from realtime.printing.bust import BustOptions, build_bust
    from realtime.topology import face_triangles

    identity = check_shape("identity_mm", identity_mm, (topology.N_VERTICES, 3))
    options = BustOptions() if options is None else options
    if person is None and image is not None and vertices_px is not None:
        if progress:
            progress("segmenting")
        others = other_faces_in_frame(image, vertices_px)
        if segmenter is None:
            from realtime.stages.segmentation import PersonSegmenter

            with PersonSegmenter() as own:
                person = own.run(image, [np.asarray(vertices_px)], others).masks[0]
        else:
            person = segmenter.run(image, [np.asarray(vertices_px)], others).masks[0]
    if progress:
        progress("building")
    usable_scan = scan if scan is not None and getattr(scan, "ready", False) else None
    return build_bust(np.asarray(identity), face_triangles(), options, image=image, vertices_px=vertices_px,
                      person=person, scan=usable_scan)


_beside = None
"""This process's search for ``other_faces_in_frame`` (``realtime.stages.photo.FacesBeside``), made on
first use."""


def other_faces_in_frame(image: np.ndarray, vertices_px: np.ndarray) -> list[np.ndarray]:
    """The other people's faces in a frame, ``(468, 3)`` pixels each, beside the face at
    ``vertices_px (468, 2+)``: the detector's search of a photo (the whole frame and its halves), then
    a mesh run (and one to confirm it) per detection not on that face. One person alone costs a
    detection (~ 10-30 ms)."""
    global _beside
    if _beside is None:
        from realtime.stages.photo import FacesBeside

        _beside = FacesBeside()
    return _beside.find(image, vertices_px)
