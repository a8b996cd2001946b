"""Photo jobs on Ray: a local Ray runtime (2 CPUs) runs 20 jobs, and every output file is byte
for byte the one the local process pool writes for the same job (3MF: but for the random UUIDs
trimesh writes into it); a web job runs through ``submit`` too.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import cv2
import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'selfie3d[ray]')")

from realtime.apps.executors import LocalPoolExecutor, RayExecutor  # noqa: E402
from realtime.apps.jobs import PhotoJob  # noqa: E402
from realtime.apps.web import bustjob  # noqa: E402

RAY_CPUS = 2
JOB_COUNT = 20
# Varied jobs, small prints (fast): every style, with and without a label, both expressions.
SETTINGS = [
    dict(style="bust", height_mm=30.0),
    dict(style="bust", height_mm=40.0, label="RAY"),
    dict(style="relief", height_mm=30.0),
    dict(style="relief", height_mm=35.0, label="R2"),
    dict(style="mask", height_mm=30.0, expression="current"),
]


def _comparable(path: Path) -> bytes:
    """The file's bytes; for 3MF, its archive members with the random UUIDs trimesh writes
    (``p:UUID="..."``, new on every export) masked."""
    data = path.read_bytes()
    if path.suffix != ".3mf":
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(name.encode() + re.sub(rb'UUID="[0-9a-fA-F-]{36}"', b'UUID=""', archive.read(name))
                        for name in sorted(archive.namelist()))


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut) -> list[str]:
    folder = tmp_path_factory.mktemp("ray-photos")
    paths = []
    for name, image in (("astronaut", astronaut), ("mirrored", astronaut[:, ::-1])):
        paths.append(str(folder / f"{name}.png"))
        cv2.imwrite(paths[-1], image)
    return paths


def _jobs(photos: list[str], out: Path) -> list[PhotoJob]:
    jobs = []
    for index in range(JOB_COUNT):
        settings = SETTINGS[index % len(SETTINGS)]
        fmt = ("stl", "3mf")[index % 2]
        jobs.append(PhotoJob(photos[(index // len(SETTINGS)) % len(photos)], str(out / f"job{index:02d}.{fmt}"),
                             fmt, **settings))
    return jobs


@pytest.fixture(scope="module")
def ray_executor():
    with RayExecutor(address=None, num_cpus=RAY_CPUS) as executor:
        yield executor


def test_ray_runs_20_jobs_with_outputs_identical_to_the_local_pool(ray_executor, photos, tmp_path):
    results = {}
    for name, executor in (("pool", LocalPoolExecutor(RAY_CPUS)), ("ray", ray_executor)):
        out = tmp_path / name
        out.mkdir()
        try:
            results[name] = {Path(r.faces[0]["output"]).name if r.ok else r.image_path: r
                             for r in executor.map(_jobs(photos, out))}
        finally:
            if name == "pool":
                executor.close()
        failed = [r.error for r in results[name].values() if not r.ok]
        assert not failed, failed
        assert len(results[name]) == JOB_COUNT
    assert ray_executor.workers == RAY_CPUS
    for index in range(JOB_COUNT):
        name = Path(_jobs(photos, tmp_path)[index].output).name
        assert _comparable(tmp_path / "ray" / name) == _comparable(tmp_path / "pool" / name), \
            f"{name} differs between Ray and the pool"
        pool_face, ray_face = results["pool"][name].faces[0], results["ray"][name].faces[0]
        assert ray_face["landmarks68"] == pool_face["landmarks68"]
        assert ray_face["print_checks"] == pool_face["print_checks"]


def test_a_web_job_runs_through_submit(ray_executor, photos):
    job = bustjob.WebJob(Path(photos[0]).read_bytes(), ".png", style="relief", height_mm=30.0)
    result = ray_executor.submit(bustjob.run_web_job, job).result(timeout=120)
    assert result.ok, result.message
    assert {"bust.stl", "bust.3mf", "bust.glb", "bust.obj"} <= set(result.files)


def test_a_missing_photo_is_a_failed_result_not_a_crash(ray_executor, tmp_path):
    results = list(ray_executor.map([PhotoJob(str(tmp_path / "nope.png"), str(tmp_path / "x.stl"))]))
    assert len(results) == 1 and not results[0].ok and "no such file" in results[0].error
