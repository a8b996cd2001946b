"""selfie3d: live 3D face meshes from a webcam, a video or one photo.

The package is a chain of pipeline stages, one module each: ``capture`` (frames in),
``tracking`` (where the face is), ``reconstruction`` (the 468-vertex mesh per frame), then
fusion, rendering and bust export. ``pipeline`` wires them; ``cli`` is the ``selfie3d`` command.
"""

__version__ = "0.1.0"
