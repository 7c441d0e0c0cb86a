"""How busy the machine was during a run, and how much of that was somebody else.

A load test saturates the CPU by design, so the raw idle share of a good run is near 0 at
16 connections. What makes a run worthless is CPU taken by processes outside the
benchmark (another test suite, a build) or by the hypervisor (steal). So each run reports:

- ``idle``: the share of all CPU time (every core) that was idle or waiting on I/O;
- ``others``: the share used by neither the harness nor anything it started (its process
  tree, wrk included), plus steal. Above ``BUSY_OTHERS`` the run is marked busy.

Interrupt time is left out of both: loopback traffic is partly accounted there, and it
cannot be told apart by process.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from bench.processes import descendants

BUSY_OTHERS = 0.10  # a run where others took more than this share of the machine is "busy"
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuShare:
    idle: float
    others: float

    @property
    def busy(self) -> bool:
        return self.others > BUSY_OTHERS


@dataclass(frozen=True)
class _Snapshot:
    total: int  # ticks, all cores
    idle: int  # idle + iowait
    busy: int  # user + nice + system + steal (interrupts left out)
    steal: int
    tree: dict[int, int]  # pid -> user+system ticks of each live process below the harness
    reaped: float  # seconds: the harness itself plus its reaped children (wrk)


def _snapshot() -> _Snapshot:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tree = {}
    for pid in descendants(os.getpid()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2 :].split()
        tree[pid] = int(rest[11]) + int(rest[12])  # utime, stime
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    return _Snapshot(
        total=user + nice + system + idle + iowait + irq + softirq + steal,
        idle=idle + iowait,
        busy=user + nice + system + steal,
        steal=steal,
        tree=tree,
        reaped=reaped,
    )


class CpuMeter:
    """``start()`` before a run, ``stop()`` after it: the run's CpuShare."""

    def __init__(self) -> None:
        self._start: _Snapshot | None = None

    def start(self) -> None:
        self._start = _snapshot()

    def stop(self) -> CpuShare:
        assert self._start is not None, "start() first"
        before, after = self._start, _snapshot()
        total = max(after.total - before.total, 1)
        own_ticks = sum(ticks - before.tree.get(pid, 0) for pid, ticks in after.tree.items())
        own_ticks += round((after.reaped - before.reaped) * TICKS_PER_S)
        others = max(0, after.busy - before.busy - own_ticks)
        return CpuShare(idle=(after.idle - before.idle) / total, others=min(1.0, others / total))
