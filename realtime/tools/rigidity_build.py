"""Build ``realtime/data/vertex_rigidity.npy``: how far each face-mesh vertex moves off the head's
rigid motion in real footage (run offline, on videos of real faces).

Fusion fits each frame's head pose to all 468 vertices, each weighted by the inverse variance
of its motion that no rigid pose explains (maximum likelihood): expressions (mouth, cheeks,
brows), the network's sliding outline and its noise. Those variances are a property of the
network on real faces, so they are measured once, here, on real talking and grimacing people
and shipped as data:

1. each video goes through detection, tracking and the face-mesh network (no fusion); every
   frame's mesh is unprojected to unit face depth (``fusion.unit_depth_points``);
2. the frames are aligned by a weighted generalised Procrustes analysis (similarity transforms
   to the weighted mean shape), starting from equal weights on all vertices;
3. each vertex's residual is its RMS distance in the image plane from the aligned mean, over
   the frames, as a fraction of the inter-ocular distance; the clips' residuals are averaged
   (RMS);
4. the weights become 1 / residual^2 and steps 2-3 repeat (``ROUNDS``): the alignment then
   rests on the vertices that move least, not on a hand-picked set.

The shipped file was measured on three clips of real faces, 1,440 frames in all (one still,
frontal face; one talking with head motion; one with strong expressions): KwaiVGI/LivePortrait
``assets/examples/driving/d0.mp4``, ``d3.mp4`` and ``d6.mp4``. Run with
``python -m realtime.tools.rigidity_build VIDEO...`` from the repository root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from realtime.geometry import interocular, unit_depth_points, weighted_similarity
from realtime.shapes import check_shape
from realtime.topology import N_VERTICES

OUTPUT = Path(__file__).resolve().parents[1] / "data" / "vertex_rigidity.npy"
# Reweighting rounds. Each further round narrows the alignment onto fewer, more rigid vertices
# (the inverse-variance weights' effective count: 255, 147, 107 vertices after 1, 2, 4 rounds)
# without converging to one answer. On rendered heads the pose sweep reads 2.83 / 2.77 / 2.75
# deg after 1 / 2 / 4 rounds, but fewer vertices carry less leverage: with 4 the filtered pose
# of a real talking head (clip_d3) jittered 43% more than with the old hand-picked set, with 2
# 4% less. Two rounds.
ROUNDS = 2
# Procrustes rounds per weighting (mean shape <-> alignments): converged after 3.
PROCRUSTES_ROUNDS = 3


def aligned_to_mean(points: np.ndarray, weights: np.ndarray, rounds: int = PROCRUSTES_ROUNDS) -> tuple[np.ndarray, np.ndarray]:
    """Weighted generalised Procrustes: every frame's similarity onto the mean shape.

    points: ``(t, n, 3)`` frames of one face. weights: ``(n,)`` >= 0.
    Returns ``(aligned (t, n, 3), mean (n, 3))``, float64.
    """
    frames = check_shape("points", points, (None, None, 3), dtype=np.float64)
    mean = frames[0]
    for _ in range(rounds):
        aligned = []
        for frame in frames:
            s, rotation, t = weighted_similarity(frame, mean, weights)
            aligned.append(s * frame @ rotation.T + t)
        aligned = np.asarray(aligned)
        mean = aligned.mean(axis=0)
    return aligned, mean


def nonrigid_residuals(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each vertex's motion that no rigid pose explains, ``(n,)``: RMS image-plane (x, y)
    distance from the aligned mean over the frames, over the mean's inter-ocular distance.
    points ``(t, n, 3)``, weights ``(n,)`` for the alignment."""
    aligned, mean = aligned_to_mean(points, weights)
    offsets = aligned[..., :2] - mean[None, :, :2]
    return np.sqrt((offsets ** 2).sum(axis=-1).mean(axis=0)) / interocular(mean)


def vertex_rigidity(clips: list[np.ndarray], rounds: int = ROUNDS) -> np.ndarray:
    """Residual per vertex over several clips, ``(n,) float64`` (fractions of the inter-ocular
    distance), the alignment reweighted by 1 / residual^2 ``rounds`` times.
    clips: ``(t_k, n, 3)`` unit-depth meshes of one face each."""
    weights = np.ones(clips[0].shape[1])
    for _ in range(rounds):
        residuals = np.sqrt(np.mean([nonrigid_residuals(clip, weights) ** 2 for clip in clips], axis=0))
        weights = 1.0 / residuals ** 2
    return residuals


def clip_meshes(path: str) -> np.ndarray:
    """The face-mesh network's meshes of a video's largest face, unit depth: ``(t, 468, 3)``."""
    from realtime.camera import CameraIntrinsics
    from realtime.stages.capture import Capture, CaptureOptions
    from realtime.stages.pipeline import Pipeline, PipelineOptions

    meshes = []
    with Capture(CaptureOptions(path=path)) as capture, Pipeline(PipelineOptions(fusion=False)) as pipeline:
        for frame in capture:
            faces = pipeline.process(frame).faces
            if faces:
                height, width = frame.image.shape[:2]
                intrinsics = CameraIntrinsics.default(width, height)
                meshes.append(unit_depth_points(np.asarray(faces[0].vertices[:N_VERTICES], np.float64), intrinsics))
    if len(meshes) < 10:
        raise SystemExit(f"{path}: a face in only {len(meshes)} frames; need a video of one real face")
    return np.asarray(meshes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.tools.rigidity_build", description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+", help="videos of real faces, one person each")
    parser.add_argument("--output", default=str(OUTPUT), help=f"where to write (default: {OUTPUT})")
    args = parser.parse_args(argv)
    clips = [clip_meshes(path) for path in args.videos]
    residuals = vertex_rigidity(clips)
    np.save(args.output, residuals.astype(np.float32))
    order = np.argsort(residuals)
    print(f"{sum(len(c) for c in clips)} frames from {len(clips)} clips; residual (% of IOD): "
          f"min {100 * residuals.min():.2f}, median {100 * np.median(residuals):.2f}, max {100 * residuals.max():.2f}; "
          f"most rigid: {order[:12].tolist()}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
