"""The pipeline's stages: frames in, one stable metric face (and a person's outline) out.

Each module is one stage (a frozen ``...Options`` in, a ``...Result`` out, ``close()``):
``capture`` (frame sources; ``imagefile`` decodes untrusted image files), ``tracking``
(``detection`` and ``roi``: where the face is), ``reconstruction`` (the 468-vertex mesh and the
iris per frame, on the networks ``inference`` loads), ``fusion`` (one metric face over time, with
``scale`` and ``filters``), ``segmentation`` (the person's outline), ``scan`` (the head's shape
from the outlines of a turning head) and ``photo`` (one still photo to a mesh). ``pipeline``
wires capture, tracking, reconstruction and fusion for the live loop and the demo. Stages import
the face model (``realtime.topology``, ``realtime.geometry``) and each other, never ``render``,
``apps`` or ``tools``.
"""
