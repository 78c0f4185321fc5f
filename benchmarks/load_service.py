"""Load on a local ``maskcls serve``: requests from concurrent clients, throughput, latency, failures, memory.

The script starts ``maskcls serve MODEL`` on a free port of 127.0.0.1 (or targets ``--url``), sends a warm-up
from as many clients, reads the server's resident memory, then sends ``--requests`` photos from ``--clients``
threads at once (each with its own connection), sampling the server's memory as it goes, and reads it again at
the end. Photos are the shared UTKFace photos when ``../shared/data/utkface/images`` exists, else synthetic faces
drawn here. Every request must answer 200 with a JSON list of faces; the exit status is 1 when one did not.

    .venv/bin/python benchmarks/load_service.py runs/public                          # 500 requests, 8 clients
    .venv/bin/python benchmarks/load_service.py --url http://127.0.0.1:8000 --pid 4242  # a server already running
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

SHARED_PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface" / "images"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="Run folder or .onnx to serve (not with --url).")
    parser.add_argument("--url", help="Base URL of a running server instead of starting one.")
    parser.add_argument("--pid", type=int, help="Process id of the --url server, to read its memory.")
    parser.add_argument("--requests", type=int, default=500, help="Requests to send.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument("--warmup", type=int, default=64, help="Requests sent before measuring (as many clients).")
    parser.add_argument("--photos", type=Path, default=SHARED_PHOTOS, help="Folder of JPEG photos to send.")
    parser.add_argument("--distinct", type=int, default=100, help="Different photos sent (round robin).")
    args = parser.parse_args(argv)
    if (args.model is None) == (args.url is None):
        parser.error("give either MODEL (a server is started) or --url")
    return args


def load_photos(folder: Path, count: int) -> tuple[list[bytes], str]:
    """``count`` photos' bytes from ``folder`` (sorted), or synthetic faces when it does not exist."""
    if folder.is_dir():
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:count]
        return [p.read_bytes() for p in paths], f"{len(paths)} photos of {folder}"
    from maskcls.data.synthetic import make_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic(Path(tmp) / "faces", people=max(1, count // 7), eval_people=0, seed=0, size=(192, 256))
        paths = sorted((Path(tmp) / "faces").glob("train/images/*/*.jpg"))[:count]
        return [p.read_bytes() for p in paths], f"{len(paths)} synthetic faces ({folder} not found)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``maskcls serve MODEL`` on a free port, once it answers ``/healthz``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "w") as handle:
        server = subprocess.Popen([sys.executable, "-m", "maskcls", "serve", str(model), "--port", str(port)],
                                  stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).ok:
                return server, url
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    server.kill()
    raise SystemExit(f"the server did not answer within 180 s:\n{log.read_text()}")


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MiB (``None`` without a pid, or off Linux)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def send(session: requests.Session, url: str, body: bytes) -> tuple[float, str | None, int]:
    """One request: ``(seconds, failure or None, faces found)``."""
    started = time.perf_counter()
    try:
        response = session.post(f"{url}/v1/classify", data=body, headers={"Content-Type": "image/jpeg"}, timeout=120)
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            return seconds, f"HTTP {response.status_code}: {response.text[:200]}", 0
        return seconds, None, len(response.json()["faces"])
    except (requests.RequestException, ValueError, KeyError) as exc:
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}", 0


def run_load(url: str, photos: list[bytes], total: int, clients: int, pid: int | None) -> dict:
    """Send ``total`` requests from ``clients`` threads; return the figures."""
    local = threading.local()

    def work(index: int) -> tuple[float, str | None, int]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return send(local.session, url, photos[index % len(photos)])

    samples: list[float] = []
    done = threading.Event()

    def sample_memory() -> None:
        while not done.wait(0.5):
            if (value := rss_mb(pid)) is not None:
                samples.append(value)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(work, range(total)))
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    latencies = sorted(seconds for seconds, _, _ in results)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"wall": wall, "throughput": total / wall, "p50": cuts[49], "p95": cuts[94], "max": latencies[-1],
            "failures": [failure for _, failure, _ in results if failure is not None],
            "with_face": sum(1 for _, failure, faces in results if failure is None and faces > 0),
            "rss_samples": samples}


def main(argv: list[str] | None = None) -> int:
    """Start or target the server, warm it up, load it, print the figures; the exit status."""
    args = parse_args(argv)
    photos, source = load_photos(args.photos, args.distinct)
    server, log = None, Path(tempfile.mkstemp(prefix="maskcls-serve-", suffix=".log")[1])
    try:
        if args.url is None:
            server, url = start_server(args.model, log)
            pid = server.pid
        else:
            url, pid = args.url.rstrip("/"), args.pid
        model = requests.get(f"{url}/v1/model", timeout=10).json()
        print(f"server {url}: model {model['name']} ({model['backbone']}, {model['engine']}, crop={model['crop']}, "
              f"detector {model['detector']}); sending {source}", flush=True)
        # The warm-up runs as many clients as the load, so that every worker thread's memory is counted before.
        warm = run_load(url, photos, args.warmup, args.clients, None)
        if warm["failures"]:
            print(f"warm-up failed: {warm['failures'][0]}")
            return 1
        before = rss_mb(pid)
        figures = run_load(url, photos, args.requests, args.clients, pid)
        after = rss_mb(pid)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        log.unlink(missing_ok=True)
    print(f"{args.requests} requests from {args.clients} clients in {figures['wall']:.1f} s: "
          f"{figures['throughput']:.1f} requests/s")
    print(f"latency: p50 {1000 * figures['p50']:.0f} ms, p95 {1000 * figures['p95']:.0f} ms, "
          f"max {1000 * figures['max']:.0f} ms")
    print(f"failures: {len(figures['failures'])}; a face found in {figures['with_face']} of {args.requests} photos")
    for failure in figures["failures"][:10]:
        print(f"  {failure}")
    if before is not None and after is not None:
        peak = max(figures["rss_samples"] or [after])
        print(f"server memory (RSS): {before:.0f} MiB after warm-up, {after:.0f} MiB after the run "
              f"(ratio {after / before:.3f}), at most {peak:.0f} MiB during it")
    else:
        print("server memory: unknown (give --pid with --url)")
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    os.environ.setdefault("MASKCLS_PROGRESS", "0")
    sys.exit(main())
