"""Snapshot a 5,000-file workspace after one file changed: content-addressed incremental
snapshots (local object store, and S3 on loopback through moto) against `tar czf` of the whole
workspace, the method of the system we are rebuilding. Medians over a few runs, side by side.

    .venv/bin/python benchmarks/snapshot_incremental.py [--files 5000] [--runs 5] [--json]

With --json it prints one JSON object: per method its median milliseconds and bytes written,
and the ratios of the one-change rows against `tar czf` (`faster`, `fewer_bytes`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from obstore.store import LocalStore, S3Store

from cofounder.storage import SnapshotStore

WORDS = tuple(
    [
        "def",
        "class",
        "return",
        "import",
        "self",
        "value",
        "items",
        "for",
        "in",
        "if",
        "else",
        "while",
        "print",
        "data",
        "user",
    ]
)


def make_workspace(root: Path, files: int) -> None:
    rng = random.Random(5)
    for i in range(files):
        path = root / f"src/pkg{i % 50}/sub{i % 7}/module_{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = rng.randint(20, 200)
        path.write_text(
            "\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(lines))
        )
    (root / "node_modules" / "left-pad").mkdir(parents=True)
    (root / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1\n")


def change_one(root: Path, run: int) -> None:
    path = root / f"src/pkg{run % 50}/sub{run % 7}/module_{run}.py"
    path.write_text(path.read_text() + f"\n# edit {run}\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def median_of(runs: int, once: Callable[[int], tuple[float, int]]) -> tuple[float, int]:
    results = [once(run) for run in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        int(statistics.median(r[1] for r in results)),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    work = Path(tempfile.mkdtemp(prefix="cf-snapbench-"))
    try:
        ws = work / "ws"
        make_workspace(ws, args.files)
        total = sum(p.stat().st_size for p in ws.rglob("*") if p.is_file())
        if not args.json:
            print(f"workspace: {args.files} files, {total / 1e6:.1f} MB; one file changed per run")

        rows: list[tuple[str, float, int]] = []

        def tar_once(run: int) -> tuple[float, int]:
            change_one(ws, 1000 + run)
            out = work / f"ws-{run}.tar.gz"
            start = time.perf_counter()
            subprocess.run(["tar", "czf", str(out), "-C", str(ws), "."], check=True)
            elapsed = time.perf_counter() - start
            size = out.stat().st_size
            out.unlink()
            return elapsed, size

        rows.append(("tar czf (whole workspace)", *median_of(args.runs, tar_once)))

        stores: list[tuple[str, Callable[[], SnapshotStore]]] = []
        local_root = work / "objects"
        local_root.mkdir()
        stores.append(("snapshot, local store", lambda: SnapshotStore(LocalStore(local_root))))
        server = None
        try:
            import boto3
            from moto.server import ThreadedMotoServer

            port = free_port()
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            endpoint = f"http://127.0.0.1:{port}"
            boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                region_name="us-east-1",
            ).create_bucket(Bucket="bench")
            s3 = S3Store(
                "bench",
                endpoint=endpoint,
                access_key_id="test",
                secret_access_key="test",
                region="us-east-1",
                client_options={"allow_http": True},
            )
            stores.append(("snapshot, S3 (moto, loopback)", lambda: SnapshotStore(s3)))
        except Exception as exc:  # the local rows still mean something
            print(f"(S3 rows skipped: moto did not start: {exc})")

        for label, opener in stores:
            cache = work / f"cache-{len(rows)}.json"
            store = opener()
            start = time.perf_counter()
            first = store.take_with_stats(ws, cache)
            rows.append(
                (f"{label}: first (all new)", time.perf_counter() - start, first.bytes_uploaded)
            )

            def warm_once(
                run: int, store: SnapshotStore = store, cache: Path = cache
            ) -> tuple[float, int]:
                change_one(ws, 2000 + run + 10 * len(rows))
                start = time.perf_counter()
                result = store.take_with_stats(ws, cache)
                return time.perf_counter() - start, result.bytes_uploaded

            rows.append((f"{label}: one change", *median_of(args.runs, warm_once)))

            def cold_once(
                run: int, opener: Callable[[], SnapshotStore] = opener, cache: Path = cache
            ) -> tuple[float, int]:
                change_one(ws, 3000 + run + 10 * len(rows))
                fresh = opener()  # a new process: the cache file names the last snapshot
                start = time.perf_counter()
                result = fresh.take_with_stats(ws, cache)
                return time.perf_counter() - start, result.bytes_uploaded

            rows.append((f"{label}: one change, new process", *median_of(args.runs, cold_once)))
        if server is not None:
            server.stop()

        base_time, base_bytes = rows[0][1], rows[0][2]
        if args.json:
            figures = {
                label: {
                    "ms": round(seconds * 1000, 2),
                    "bytes": nbytes,
                    "faster": round(base_time / seconds, 1),
                    "fewer_bytes": round(base_bytes / max(nbytes, 1), 1),
                }
                for label, seconds, nbytes in rows
            }
            print(json.dumps({"files": args.files, "runs": args.runs, "methods": figures}))
            return
        print(f"\n{'method':<52} {'time (median)':>14} {'bytes written':>14} {'vs tar':>16}")
        for label, seconds, nbytes in rows:
            ratio = f"{base_time / seconds:5.1f}x / {base_bytes / max(nbytes, 1):6.0f}x"
            print(f"{label:<52} {seconds * 1000:11.1f} ms {nbytes:>14,} {ratio:>16}")
        print("\n'vs tar' = how many times faster / how many times fewer bytes than tar czf.")
        print(f"cpu count {os.cpu_count()}; {args.runs} runs each")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
