"""Load test of the web service: many uploads from a few concurrent clients, on localhost.

``python -m realtime.tools.web_load`` starts ``python -m realtime.apps.web`` on a free port (or uses
``--url``), warms its workers up, then sends ``--uploads`` photos (the astronaut portrait,
plain and mirrored) from ``--clients`` concurrent clients. A 503 is answered by waiting its
Retry-After and sending again; every other failure counts. Each made bust's STL is fetched
back as soon as the upload is answered (the time to the first response: the page shows the
bust then), then its other formats and the OBJ's companions (the time to all formats; a
format still being written is waited for by the server), so an upload counts as done only when
all its files are there. The server's memory (its process and its workers, resident) is
sampled throughout. Prints a JSON summary: counts, throughput, latency percentiles, peak
memory; the exit status is 1 if any upload was lost.

``--compare`` measures the server's two answer modes in the same run, alternating fresh servers
(``--answer-after all``, the old behaviour, then ``stl``) for ``--rounds`` rounds, and prints
each run and the medians per mode. ``--split N`` times the job itself in this process instead,
N times each way, interleaved: CPU seconds of the whole job in one call, of its first part (the
answer), and of both parts with the later formats pickled across as between processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

STATUS_POLL_S = 0.2
MEMORY_POLL_S = 0.1
SERVER_START_S = 120.0
REQUEST_TIMEOUT_S = 600.0
MAX_ATTEMPTS = 200
"""Tries per upload before it counts as lost: with honest Retry-After, far more than needed."""


@dataclass
class LoadResult:
    uploads: int
    clients: int
    done: int = 0
    failures: list[str] = field(default_factory=list)  # anything but 201 or 503-with-Retry-After
    busy_503: int = 0
    busy_without_retry_after: int = 0
    request_s: list[float] = field(default_factory=list)  # each 201's POST, seconds
    upload_s: list[float] = field(default_factory=list)  # first try to the STL downloaded, retries included
    all_s: list[float] = field(default_factory=list)  # first try to every format downloaded
    wall_s: float = 0.0

    def summary(self) -> dict:
        def pct(values, q):
            return round(float(np.percentile(values, q)), 3) if values else None

        return {
            "uploads": self.uploads, "clients": self.clients, "done": self.done,
            "lost": self.uploads - self.done, "failures": self.failures[:10], "failure_count": len(self.failures),
            "busy_503": self.busy_503, "busy_503_without_retry_after": self.busy_without_retry_after,
            "wall_s": round(self.wall_s, 2), "throughput_per_s": round(self.done / self.wall_s, 3) if self.wall_s else None,
            "request_p50_s": pct(self.request_s, 50), "request_p95_s": pct(self.request_s, 95),
            "upload_p50_s": pct(self.upload_s, 50), "upload_p95_s": pct(self.upload_s, 95),
            "upload_max_s": round(max(self.upload_s), 3) if self.upload_s else None,
            "all_formats_p50_s": pct(self.all_s, 50), "all_formats_p95_s": pct(self.all_s, 95),
        }


def load_photos() -> list[bytes]:
    """The astronaut portrait as PNG, plain and mirrored (two different jobs)."""
    import cv2

    from realtime.stages.democlip import astronaut_bgr

    image = astronaut_bgr()
    return [cv2.imencode(".png", variant)[1].tobytes() for variant in (image, np.ascontiguousarray(image[:, ::-1]))]


async def _upload(client, url: str, photo: bytes, result: LoadResult) -> None:
    start = time.perf_counter()
    for _ in range(MAX_ATTEMPTS):
        sent = time.perf_counter()
        try:
            response = await client.post(f"{url}/api/busts", files={"photo": ("photo.png", photo, "image/png")},
                                         data={"style": "bust", "height_mm": "80"})
        except Exception as error:  # a reset or a timeout is a lost upload
            result.failures.append(f"{type(error).__name__}: {error}")
            return
        if response.status_code == 503:
            result.busy_503 += 1
            retry = response.headers.get("retry-after")
            if retry is None:
                result.busy_without_retry_after += 1
            await asyncio.sleep(float(retry or 1))
            continue
        if response.status_code != 201:
            result.failures.append(f"{response.status_code}: {response.text[:200]}")
            return
        request_s = time.perf_counter() - sent
        body = response.json()
        stl = await client.get(url + body["files"]["stl"])
        if stl.status_code != 200 or len(stl.content) < 84:  # 84: a binary STL header
            result.failures.append(f"STL download {stl.status_code}")
            return
        first_s = time.perf_counter() - start
        later = [link for fmt, link in body["files"].items() if fmt != "stl"] + list(body.get("extras", {}).values())
        for download in await asyncio.gather(*(client.get(url + link) for link in later)):
            if download.status_code != 200 or not download.content:
                result.failures.append(f"download {download.url.path}: {download.status_code}")
                return
        result.request_s.append(request_s)
        result.upload_s.append(first_s)
        result.all_s.append(time.perf_counter() - start)
        result.done += 1
        return
    result.failures.append(f"still busy after {MAX_ATTEMPTS} tries")


async def _run(url: str, photos: list[bytes], uploads: int, clients: int) -> LoadResult:
    import httpx

    result = LoadResult(uploads, clients)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(uploads):
        queue.put_nowait(index)

    async def client_loop():
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
            while not queue.empty():
                index = queue.get_nowait()
                await _upload(client, url, photos[index % len(photos)], result)

    start = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    result.wall_s = time.perf_counter() - start
    return result


def run_load(url: str, uploads: int = 50, clients: int = 8, photos: list[bytes] | None = None) -> LoadResult:
    """Send ``uploads`` photos from ``clients`` concurrent clients to the server at ``url``."""
    return asyncio.run(_run(url, photos or load_photos(), uploads, clients))


def split_cpu(photo: bytes, repeats: int) -> dict:
    """CPU seconds (this process; medians of ``repeats``, interleaved) of a web job in one call,
    of its first part, and of its two parts with the later export pickled across."""
    import pickle

    from realtime.apps.web import bustjob

    job = bustjob.WebJob(photo)
    bustjob.run_web_job(job)  # networks loaded, caches warm
    whole, first, both = [], [], []
    for _ in range(repeats):
        start = time.process_time()
        assert bustjob.run_web_job(job).ok
        whole.append(time.process_time() - start)
        start = time.process_time()
        part = bustjob.run_web_job(job, first_formats=bustjob.FIRST_FORMATS)
        first.append(time.process_time() - start)
        # Worker -> server -> worker: pickled twice, as a process pool sends it.
        later = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(part.later))))
        assert bustjob.export_later(later).ok
        both.append(time.process_time() - start)
    whole_s, first_s, both_s = (float(np.median(values)) for values in (whole, first, both))
    return {"repeats": repeats, "one_call_cpu_s": round(whole_s, 3), "first_part_cpu_s": round(first_s, 3),
            "two_parts_cpu_s": round(both_s, 3), "answer_share": round(first_s / whole_s, 3),
            "two_parts_over_one": round(both_s / whole_s, 3)}


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, bytes (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


class MemorySampler:
    """Peak resident memory of a process tree, sampled on a thread."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(MEMORY_POLL_S)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def start_server(workers: int, queue: int, answer_after: str = "stl") -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "realtime.apps.web", "--port", str(port), "--workers", str(workers),
                                "--queue", str(queue), "--answer-after", answer_after])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(url + "/api/status", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(STATUS_POLL_S)
    process.kill()
    raise RuntimeError("the server did not answer in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime.tools.web_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one on a free port)")
    parser.add_argument("--uploads", type=int, default=50, help="photos to send (default: 50)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--workers", type=int, default=2, help="server workers when starting one (default: 2)")
    parser.add_argument("--queue", type=int, default=4, help="server queue when starting one (default: 4)")
    parser.add_argument("--answer-after", choices=("stl", "all"), default="stl",
                        help="the started server answers once the STL is written (stl) or every format (all); "
                             "default: stl")
    parser.add_argument("--compare", action="store_true",
                        help="measure both answer modes, alternating fresh servers (all, then stl), and print "
                             "the medians per mode")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare: runs per mode (default: 2)")
    parser.add_argument("--split", type=int, metavar="N",
                        help="no server: time the job N times each way in this process (CPU seconds: one call, "
                             "its first part, both parts)")
    args = parser.parse_args(argv)
    if args.split:
        print(json.dumps(split_cpu(load_photos()[0], args.split), indent=1))
        return 0
    if args.compare:
        if args.url:
            parser.error("--compare starts its own servers: leave out --url")
        runs = []
        for _ in range(args.rounds):
            for mode in ("all", "stl"):
                summary, ok = measure(args, mode)
                runs.append({"answer_after": mode, **summary})
                print(json.dumps(runs[-1]), flush=True)
                if not ok:
                    return 1
        keys = ("throughput_per_s", "upload_p50_s", "upload_p95_s", "all_formats_p50_s", "all_formats_p95_s",
                "lost", "rss_peak_mb")
        medians = {mode: {key: float(np.median([run[key] for run in runs if run["answer_after"] == mode]))
                          for key in keys} for mode in ("all", "stl")}
        print(json.dumps({"medians": medians}, indent=1))
        return 0
    summary, ok = measure(args, args.answer_after)
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


def measure(args: argparse.Namespace, answer_after: str) -> tuple[dict, bool]:
    """One load run (a server started for it unless ``args.url``): its summary, and whether
    nothing was lost."""
    process = None
    url = args.url
    if url is None:
        process, url = start_server(args.workers, args.queue, answer_after)
    try:
        photos = load_photos()
        idle_rss = tree_rss_bytes(process.pid) if process else None
        warm = run_load(url, args.workers, args.workers, photos)  # each worker loads its networks once
        warm_rss = tree_rss_bytes(process.pid) if process else None
        with MemorySampler(process.pid if process else os.getpid()) as memory:
            result = run_load(url, args.uploads, args.clients, photos)
        summary = result.summary()
        summary["warmup_s"] = round(warm.wall_s, 2)
        if process:
            summary.update(server_workers=args.workers, server_queue=args.queue,
                           rss_idle_mb=round(idle_rss / 2**20), rss_warm_mb=round(warm_rss / 2**20),
                           rss_peak_mb=round(memory.peak / 2**20),
                           rss_after_mb=round(tree_rss_bytes(process.pid) / 2**20))
        return summary, summary["lost"] == 0 and not result.failures and not result.busy_without_retry_after
    finally:
        if process:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
