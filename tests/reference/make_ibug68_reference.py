"""Write ``tests/reference/ibug68_dlib.npz``: dlib's 68 iBUG-300W points on the face images the
tests can make, the independent reference that ``tests/test_topology.py`` holds the 68-point
mapping (``realtime.topology.ibug68_points``) to.

dlib's 68-point shape predictor was trained on iBUG 300-W, the annotation the mapping
imitates. It is needed here only, once, never by the tests or at run time:

    pip install dlib-bin face-recognition-models   # prebuilt dlib; the predictor's .dat
    python tests/reference/make_ibug68_reference.py

Images (all ship with packages the project installs): scikit-image's astronaut portrait and
matplotlib's Grace Hopper sample, each as it is and mirrored. Each key holds ``(68, 2)
float64`` pixels of the image named by the key; dlib's own face detector finds the face (the largest it finds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).with_name("ibug68_dlib.npz")


def reference_images() -> dict[str, np.ndarray]:
    """The images by name, ``(h, w, 3) uint8`` BGR; the tests rebuild them the same way."""
    import cv2
    import matplotlib
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    hopper = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    images = {"astronaut": astronaut, "grace_hopper": hopper}
    images.update({f"{name}_mirrored": np.ascontiguousarray(image[:, ::-1]) for name, image in list(images.items())})
    return images


def main() -> None:
    from realtime.tools.topology_build import dlib_landmarks

    reference = {}
    for name, image in reference_images().items():
        faces = dlib_landmarks(image)
        if not faces:
            raise SystemExit(f"{name}: dlib found no face")
        # The portrait's face is the largest (dlib also reads a face into the astronaut's patch).
        reference[name] = max(faces, key=lambda points: np.ptp(points[:, 0]) * np.ptp(points[:, 1]))
    np.savez_compressed(OUTPUT, **reference)
    print(f"wrote {OUTPUT}: {sorted(reference)}")


if __name__ == "__main__":
    main()
