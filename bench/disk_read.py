"""The machine's own limit for a read that misses memory: random 8 KB reads of a
database's files straight from the disk, one at a time and several at once.

    .venv/bin/python bench/disk_read.py --db postgresql://root@127.0.0.1:5432/read_30m \
        [--reads 2000] [--depths 1,4,16] [--json FILE]

Reads blocks at random offsets of the database's largest relation files (its
complaints, events and their indexes: the storage a cold read of PostgreSQL reads),
with ``O_DIRECT`` (the kernel's page cache is not consulted, so every read goes to the
device), read only. At depth 1 a read waits for the one before it, as PostgreSQL's
index scan reads its heap pages (one after another); at depth N, N threads read at
once, as a prefetching scan (a bitmap heap scan with ``effective_io_concurrency``)
could. Printed: reads a second and each read's latency (p50, p90, p99, max).
Run as a user that may read PostgreSQL's data directory (root here). Nothing else
should be running: the figures are the device's, shared with whatever else reads or
writes it (the load is printed).
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import psycopg

BLOCK = 8192


def relation_files(url: str, most: int) -> list[Path]:
    """The files (segments of 1 GB) of the database's ``most`` largest relations."""
    with psycopg.connect(url) as connection:
        data = Path(str(connection.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        rows = connection.execute(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c "
            "WHERE c.relkind IN ('r', 'i') AND pg_relation_filepath(c.oid) IS NOT NULL "
            "ORDER BY pg_relation_size(c.oid) DESC LIMIT %s",
            (most,),
        ).fetchall()
    files: list[Path] = []
    for (relative,) in rows:
        first = data / relative
        segments = first.parent.glob(f"{first.name}.[0-9]*")
        files += [first, *sorted(segments, key=lambda p: int(p.suffix[1:]))]
    return [f for f in files if f.exists() and f.stat().st_size >= BLOCK]


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(files: list[Path], reads: int, depths: list[int], seed: int) -> list[dict[str, float]]:
    descriptors = [os.open(f, os.O_RDONLY | os.O_DIRECT) for f in files]
    blocks = [os.fstat(fd).st_size // BLOCK for fd in descriptors]
    total = sum(blocks)
    rng = random.Random(seed)
    local = threading.local()

    def pick() -> tuple[int, int]:
        n = rng.randrange(total)
        for fd, count in zip(descriptors, blocks, strict=True):
            if n < count:
                return fd, n
            n -= count
        raise AssertionError(n)

    def read(target: tuple[int, int]) -> float:
        buffer = getattr(local, "buffer", None)
        if buffer is None:  # O_DIRECT wants an aligned buffer: an anonymous map is
            buffer = local.buffer = mmap.mmap(-1, BLOCK)
        fd, block = target
        started = time.perf_counter()
        os.preadv(fd, [buffer], block * BLOCK)
        return (time.perf_counter() - started) * 1000

    results = []
    try:
        for depth in depths:
            targets = [pick() for _ in range(reads)]
            started = time.perf_counter()
            if depth == 1:
                latencies = [read(t) for t in targets]
            else:
                with ThreadPoolExecutor(depth) as pool:
                    latencies = list(pool.map(read, targets))
            seconds = time.perf_counter() - started
            latencies.sort()
            results.append({
                "depth": depth, "reads": reads, "per_second": reads / seconds,
                "p50_ms": quantile(latencies, 0.5), "p90_ms": quantile(latencies, 0.9),
                "p99_ms": quantile(latencies, 0.99), "max_ms": latencies[-1],
                "mean_ms": statistics.mean(latencies),
            })  # fmt: skip
    finally:
        for fd in descriptors:
            os.close(fd)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="the database whose files are read")
    parser.add_argument("--reads", type=int, default=2000, help="reads at each depth")
    parser.add_argument("--depths", default="1,4,16", help="reads at once, comma-separated")
    parser.add_argument("--relations", type=int, default=40, help="the largest N relations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    files = relation_files(args.db, args.relations)
    size = sum(f.stat().st_size for f in files)
    now = datetime.now(UTC)
    depths = [int(d) for d in args.depths.split(",")]
    print(
        f"{args.db.rsplit('/', 1)[-1]}: {len(files)} files of its {args.relations} largest "
        f"relations, {size / 2**30:.1f} GiB; {now:%H:%M:%S} UTC, load {os.getloadavg()[0]:.1f}"
    )
    results = measure(files, args.reads, depths, args.seed)
    print(f"{'depth':>5} {'reads/s':>8} {'p50 ms':>7} {'p90':>7} {'p99':>7} {'max':>7} {'mean':>7}")
    for r in results:
        print(
            f"{r['depth']:5.0f} {r['per_second']:8,.0f} {r['p50_ms']:7.3f} {r['p90_ms']:7.3f} "
            f"{r['p99_ms']:7.3f} {r['max_ms']:7.3f} {r['mean_ms']:7.3f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"started": now.isoformat(), "bytes": size, "results": results}, indent=1)
        )


if __name__ == "__main__":
    main()
