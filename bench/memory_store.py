"""The memory store under many keys: put N distinct entries into one MemoryReadCache with a
byte bound, and report how much it accounts for and how much the process grew.

Run in a process of its own (``python -m bench.memory_store``), so the RSS it reports is the
store's and nothing else's. It prints one JSON line; it exits non-zero when the store's own
accounting goes over its bound.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.processes import PYTHON, rss_bytes
from gateway.cache import CacheEntry, MemoryReadCache, order_tag

INSTANCE = "waldur"


async def fill(store: MemoryReadCache, keys: int, value_bytes: int) -> None:
    now = time.time()
    for n in range(keys):
        native = f"{n:032x}"
        key = f"v1:{INSTANCE}:0123456789ab:order:{native}"
        # A distinct bytes object per entry, as entries read from upstreams are.
        value = key.encode().ljust(value_bytes, b".")
        entry = CacheEntry(value, now, now + 3600, now + 3900)
        await store.put(key, entry, (order_tag(INSTANCE, native),), (0,))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024 * 1024)
    args = parser.parse_args()

    store = MemoryReadCache(max_entries=10_000_000, max_bytes=args.max_bytes)  # the byte bound binds
    gc.collect()
    before = rss_bytes_self()
    started = time.monotonic()
    asyncio.run(fill(store, args.keys, args.value_bytes))
    gc.collect()
    after = rss_bytes_self()
    accounted = store._entries.currsize
    print(
        json.dumps(
            {
                "keys": args.keys,
                "kept": len(store),
                "value_bytes": args.value_bytes,
                "max_bytes": args.max_bytes,
                "accounted_bytes": accounted,
                "rss_before": before,
                "rss_after": after,
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    )
    return 0 if accounted <= args.max_bytes else 1


def rss_bytes_self() -> int:
    return rss_bytes(os.getpid())


def measure_in_subprocess() -> dict[str, Any]:
    """Run this module in a fresh process; its figures."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [PYTHON, "-m", "bench.memory_store"], cwd=root, capture_output=True, text=True, timeout=600
    )
    if not done.stdout.strip():
        raise RuntimeError(f"bench.memory_store failed: {done.stderr[-1000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


if __name__ == "__main__":
    sys.exit(main())
