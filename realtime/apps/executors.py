"""The one owner of worker processes: every pool, process and Ray runtime selfie3d starts.

Photo jobs (``realtime.apps.jobs``) run through one interface, ``map(jobs) -> iterator of
results, in completion order``: ``SerialExecutor`` in this process, ``LocalPoolExecutor`` over
spawned processes (each keeps its networks loaded between jobs) and ``RayExecutor`` on a
cluster. The web service submits its jobs (``submit(fn, *args) -> Future``) to a
``spawn_pool`` or a ``RayExecutor``; the live window exports busts on a
``LowPriorityProcessExecutor`` (one process at the lowest CPU priority). ``stop_pool`` and
``close_executor`` end them: nothing outlives its owner, and Ctrl-C stops workers before the
command says it was interrupted.

Ray: ``RayExecutor(address)`` runs ``realtime.apps.jobs.run_photo_job`` as one Ray task per job
and any picklable function through ``submit``. Each Ray worker process keeps its face networks
loaded between tasks, as a pool worker does. ``address`` is Ray's: None starts a private local
runtime, "auto" joins the cluster this machine belongs to, "ray://head:10001" connects through
Ray Client. Photo jobs name files by path, so on a multi-node cluster their inputs and outputs
must sit on a disk every node mounts; web jobs carry their bytes and need no shared disk. Every
node needs selfie3d installed.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from realtime.apps.jobs import (PhotoJob, PhotoJobResult, init_worker, missing_folders, remove_empty_folders,
                                run_in_worker, run_photo_job)
from realtime.errors import Selfie3DError

WORKER_STOP_GRACE_S = 5.0
"""After Ctrl-C a pool worker gets this long to unwind its job (its atomic writes remove their
temporary files) before it is killed outright; either way it is gone before the command exits."""


# --------------------------------------------------------------------------- process pools


def limit_threads() -> None:
    """Pool workers each run single-threaded so N workers use N cores without oversubscribing."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2

    cv2.setNumThreads(1)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block; a Ctrl-C meanwhile is delivered at its end.

    Processes (and threads) started inside inherit the blocked mask, so pool workers never see
    Ctrl-C, even while they start up, before their initializer runs (a traceback there otherwise).
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: the initializer alone
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def spawn_pool(workers: int, initializer: Callable | None = None,
               initargs: tuple = ()) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each running ``initializer(*initargs)`` first.

    Spawned, not forked: a fork copies OpenCV's and ONNX Runtime's thread pools (and a server's
    uvicorn and thread-pool threads) in whatever locked state the parent's threads left them,
    and the child can hang."""
    import multiprocessing

    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=initializer, initargs=initargs)


def stop_pool(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel what waits and end the workers now (a job that runs is stopped, not waited for) (SIGTERM, then SIGKILL after
    ``WORKER_STOP_GRACE_S``); returns once every worker is gone."""
    # ProcessPoolExecutor only cancels jobs that no worker has taken; its processes are the one
    # handle on the running ones (a private attribute, hence the default).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    # The pool's manager thread reaps the same workers; while it does, a join below can come
    # back with a dead worker still looking alive. shutdown() drops the thread, so keep it.
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + WORKER_STOP_GRACE_S
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
    if manager is not None:  # every worker has ended: it finishes at once
        manager.join(WORKER_STOP_GRACE_S)


def close_executor(executor) -> None:
    if isinstance(executor, concurrent.futures.ProcessPoolExecutor):
        stop_pool(executor)  # stopping: a job still running is not waited for
    elif isinstance(executor, concurrent.futures.Executor):
        executor.shutdown(wait=True, cancel_futures=True)
    else:
        executor.close()


# --------------------------------------------------------------------------- photo jobs


def _init_photo_worker() -> None:
    """A photo pool worker: single-threaded numerics, and the job's own signal handling
    (``realtime.apps.jobs.init_worker``)."""
    limit_threads()
    init_worker()


class Executor(Protocol):
    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Runs jobs one after another in this process."""

    def __init__(self, debug: bool = False):
        self.debug = debug
        self._created: list[Path] = []

    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]:
        jobs = list(jobs)
        self._created += missing_folders(jobs)
        try:
            for job in jobs:
                yield run_photo_job(job, self.debug)
        finally:
            remove_empty_folders(self._created)

    def close(self) -> None:
        remove_empty_folders(self._created)


class LocalPoolExecutor:
    """Runs jobs on a pool of worker processes (default: one per core).

    Stopping early (Ctrl-C, or ``close()`` while jobs are pending) cancels what has not started
    and stops the workers before returning, so no output appears after the command has said it
    was interrupted; outputs already written are complete (each is written atomically).
    """

    def __init__(self, workers: int | None = None, debug: bool = False):
        self.workers = workers or os.cpu_count() or 1
        self.debug = debug
        self._pool = spawn_pool(self.workers, _init_photo_worker)
        self._futures: list[concurrent.futures.Future] = []
        self._created: list[Path] = []
        self._stopped = False

    def map(self, jobs: Iterable[PhotoJob]) -> Iterator[PhotoJobResult]:
        jobs = list(jobs)
        self._created += missing_folders(jobs)
        try:
            # With spawn, submit() starts the worker processes (and the pool's manager thread).
            with sigint_blocked():
                futures = {self._pool.submit(run_in_worker, job, self.debug): job for job in jobs}
            self._futures += futures
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:  # the worker process died (out of memory, killed)
                    yield PhotoJobResult(futures[future].image_path, False, f"worker failed: {error}")
        except BaseException:  # Ctrl-C while waiting, or the caller dropped the iterator
            self._stop()
            raise

    def close(self) -> None:
        if any(not future.done() for future in self._futures):
            self._stop()  # the caller gave up on the results (Ctrl-C in its loop, an error)
        else:
            self._pool.shutdown(wait=True)
        remove_empty_folders(self._created)

    def _stop(self) -> None:
        """Cancel pending jobs and end the workers now; returns once every worker is gone."""
        if self._stopped:
            return
        self._stopped = True
        for future in self._futures:
            future.cancel()
        stop_pool(self._pool)
        remove_empty_folders(self._created)


def make_executor(workers: int | None, job_count: int, debug: bool = False) -> Executor:
    """Serial for one job or one worker (no process start-up to pay), a process pool otherwise."""
    workers = workers or os.cpu_count() or 1
    if job_count <= 1 or workers <= 1:
        return SerialExecutor(debug)
    return LocalPoolExecutor(min(workers, job_count), debug)


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


# --------------------------------------------------------------------------- the live window's bust exports

# CPU priority (nice) of the export process. The window has a frame to draw every 33 ms, the
# export has no deadline: at 19, the lowest, the kernel's fair scheduler weighs it 15 against
# the loop's 1024, so it runs on the time the loop leaves and gives way at once when the loop
# wants a core. Every thread the process starts inherits it.
EXPORT_NICE = 19
# Thread pools of the numeric libraries in the export process: one thread each, set in its
# environment before Python starts (these are read when a library loads), so whatever the bust
# builder runs (numpy's BLAS, OpenMP code, numexpr, OpenCV) is one runnable thread, not one
# per core fighting the loop for the caches. Our ONNX Runtime sessions are single-threaded
# already (models/manifest.json); any other thread is niced like the rest.
EXPORT_THREAD_ENV = {name: "1" for name in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")}
# How long a window closing waits for the export process to exit after its last job, seconds.
WORKER_EXIT_S = 10.0

_progress_sink: Callable[[str], None] | None = None


def report_progress(text: str) -> None:
    """Tell the window what the export job is doing (``"building"``); a no-op outside
    an export process. Job code may call it at any point; it never blocks on the window."""
    if _progress_sink is not None:
        _progress_sink(text)


class ExportCancelled(Exception):
    """An export stopped before it finished (the window closed and the user did not wait)."""


class _Stop(BaseException):
    """Raised in the export process by SIGTERM during a job: unwinds it, so its atomic writes
    remove their temporary files. A BaseException: the job's ``except Exception`` lets it by."""


def _portable_error(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a ``RuntimeError`` with its type and text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # unpicklable arguments, a class defined in a closure, ...
        return RuntimeError(f"{type(error).__name__}: {error}")


def _export_worker_main(fd: int) -> None:
    """The export process's loop: ``(job_id, fn, args, kwargs)`` in on the connection ``fd``,
    ``("progress", id, text)`` while a job runs, then ``("done", id, value)`` or ``("error",
    id, exception)``; ``None`` or a closed connection ends it."""
    import signal
    from multiprocessing.connection import Connection

    global _progress_sink
    conn = Connection(fd)
    running = False

    def on_term(signum, frame):
        if running:
            raise _Stop()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        import cv2

        cv2.setNumThreads(1)  # OpenCV sizes its pool from the cores, not the environment
    except ImportError:
        pass
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the window's process is gone
            return
        if message is None:
            return
        job_id, fn, args, kwargs = message
        _progress_sink = lambda text, job_id=job_id: conn.send(("progress", job_id, text))
        running = True
        try:
            reply = ("done", job_id, fn(*args, **kwargs))
        except _Stop:
            return
        except Exception as error:
            reply = ("error", job_id, _portable_error(error))
        finally:
            running = False
            _progress_sink = None
        conn.send(reply)


# Runs in the new interpreter before anything is imported: the priority first, so every
# thread started later (by any import) inherits it; Ctrl-C in the terminal is the window's
# to handle (it cancels exports through the executor), not the worker's.
_WORKER_BOOTSTRAP = """\
import os, signal, sys
os.nice({nice})
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.path[:] = {paths!r}
from realtime.apps.executors import _export_worker_main
_export_worker_main({fd})
"""


class LowPriorityProcessExecutor(concurrent.futures.Executor):
    """Runs jobs one at a time, in order, in one background Python process started on the
    first job with ``nice`` priority and ``thread_env`` in its environment (``EXPORT_NICE``,
    ``EXPORT_THREAD_ENV``). ``progress``: the latest ``report_progress`` text per running
    future. ``terminate()`` stops the job that runs (its future fails with ``ExportCancelled``).

    Jobs and their arguments travel pickled: a job is a module-level function of an importable
    module (not one of ``__main__``). A process of our own rather than ``ProcessPoolExecutor``: the environment must be set
    before the interpreter starts (multiprocessing's spawn passes the parent's), and the
    priority before the first import starts a thread (spawn imports the main module first).
    """

    def __init__(self, nice: int = EXPORT_NICE, thread_env: dict[str, str] | None = None):
        import queue
        import threading

        self.nice = nice
        self.thread_env = dict(EXPORT_THREAD_ENV if thread_env is None else thread_env)
        self.progress: dict[concurrent.futures.Future, str] = {}
        self.pid: int | None = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._process = None
        self._terminating = False
        self._shutdown = False
        self._next_id = 0

    def submit(self, fn, /, *args, **kwargs) -> concurrent.futures.Future:
        import threading

        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit an export after the worker was shut down")
            future: concurrent.futures.Future = concurrent.futures.Future()
            self._next_id += 1
            self._jobs.put((self._next_id, future, fn, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="bust-export", daemon=True)
                self._thread.start()
        return future

    def _start_process(self):
        import subprocess
        from multiprocessing import Pipe

        here, there = Pipe(duplex=True)
        env = {**os.environ, **self.thread_env}
        code = _WORKER_BOOTSTRAP.format(nice=int(self.nice), paths=list(sys.path), fd=there.fileno())
        self._process = subprocess.Popen([sys.executable, "-c", code], env=env, pass_fds=(there.fileno(),),
                                         stdin=subprocess.DEVNULL)
        there.close()
        self.pid = self._process.pid
        return here

    def _dispatch(self) -> None:
        conn = None
        while True:
            item = self._jobs.get()
            if item is None:
                break
            job_id, future, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if conn is None:
                    conn = self._start_process()
                conn.send((job_id, fn, args, kwargs))
                while True:
                    kind, _, value = conn.recv()
                    if kind != "progress":
                        break
                    self.progress[future] = value
            except (EOFError, OSError) as error:  # the process died or was stopped mid-job
                code = self._process.wait() if self._process is not None else None
                conn, self._process = None, None
                if self._terminating:
                    future.set_exception(ExportCancelled("cancelled"))
                else:
                    future.set_exception(RuntimeError(f"the export process stopped (exit code {code})"
                                                      if code is not None else f"the export process failed ({error})"))
                continue
            except Exception as error:  # the job could not be sent (unpicklable arguments)
                future.set_exception(error)
                continue
            finally:
                self.progress.pop(future, None)
            if kind == "done":
                future.set_result(value)
            else:
                future.set_exception(value)
        if conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        if self._process is not None:
            try:
                self._process.wait(WORKER_EXIT_S)
            except Exception:  # still busy after the grace time: it has nothing left to save
                self._process.kill()
                self._process.wait()

    def terminate(self) -> None:
        """Stop the job that runs now, and the process (the next job starts a new one)."""
        self._terminating = True
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: the job unwinds, its temporary files go

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        import queue

        with self._lock:
            self._shutdown = True
        if cancel_futures:
            while True:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[1].cancel()
        self._jobs.put(None)
        if wait and self._thread is not None:
            self._thread.join()
