"""Photo jobs as Ray tasks: the same executor interface as ``realtime.jobs``, on a cluster.

``RayExecutor(address)`` runs ``realtime.jobs.run_photo_job`` as one Ray task per job
(``map(jobs)`` yields ``PhotoJobResult`` in completion order, like ``LocalPoolExecutor``) and any
picklable function through ``submit(fn, *args) -> concurrent.futures.Future`` (what the web
service uses). Each Ray worker process keeps its face networks loaded between tasks, as a pool
worker does. ``address`` is Ray's: None starts a private local runtime, "auto" joins the cluster
this machine belongs to, "ray://head:10001" connects through Ray Client. Photo jobs name files by
path, so on a multi-node cluster their inputs and outputs must sit on a disk every node mounts;
web jobs carry their bytes and need no shared disk. Every node needs selfie3d installed.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Callable, Iterable, Iterator

from realtime.errors import Selfie3DError
from realtime.jobs import PhotoJob, PhotoJobResult, limit_threads, run_photo_job

# CPUs Ray reserves per task: the jobs run single-threaded (``limit_threads``), so a node with
# C CPUs runs C jobs at once, as the local pool does.
TASK_CPUS = 1


def _import_ray():
    try:
        import ray
    except ImportError:
        raise Selfie3DError("--ray needs Ray: pip install 'selfie3d[ray]'") from None
    return ray


def _call(fn: Callable, *args) -> Any:
    """The body of every task: single-threaded numerics, then the job."""
    limit_threads()
    return fn(*args)


class RayExecutor:
    """Runs photo jobs (and web jobs) as Ray tasks.

    address: Ray address (None: start a local runtime; "auto": the running cluster).
    num_cpus: CPUs of a local runtime started here (None: all); ignored when joining a cluster.
    """

    def __init__(self, address: str | None = "auto", debug: bool = False, num_cpus: int | None = None):
        ray = _import_ray()
        self.debug = debug
        self._ray = ray
        self._owns_runtime = not ray.is_initialized()
        if self._owns_runtime:
            try:
                if address is None:
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=address, log_to_driver=False)
            except ConnectionError as error:
                raise Selfie3DError(f"no Ray cluster at {address!r} ({error}); start one with "
                                    "'ray start --head' or pass the head's address") from None
        self._task = ray.remote(num_cpus=TASK_CPUS)(_call)

    @property
    def workers(self) -> int:
        """CPUs the cluster offers now: how many jobs run at once."""
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn: Callable, *args) -> concurrent.futures.Future:
        """Run ``fn(*args)`` as a task; ``fn`` must be importable on the workers."""
        return self._task.remote(fn, *args).future()

    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]:
        pending = {self._task.remote(run_photo_job, job, self.debug): job for job in jobs}
        while pending:
            done, _ = self._ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield self._ray.get(done[0])
            except Exception as error:  # the task's worker or node died
                yield PhotoJobResult(job.image_path, False, f"Ray task failed: {error}")

    def close(self) -> None:
        if self._owns_runtime and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
