"""``python -m bench``: the gateway's speed targets, each measured against its anchors in one run.

Absolute figures on a shared 2-core machine move from run to run; ratios to anchors measured
in the same run move far less. So one command starts every server (simulators, gateways,
nginx, a bare Starlette app, a naive fan-out proxy, Redis, haproxy — each its own process),
drives each target with wrk for ``--runs`` interleaved rounds, and prints one table of
medians, anchors, ratios and targets, with the CPU idle share of every run (a run where
other processes took the CPU is marked BUSY). The table also goes to
``bench/results/latest.md``; a target that was missed gets a py-spy profile of the gateway
under that load, summarised in the closing note.

    .venv/bin/python -m bench [--seconds 5] [--runs 3] [--no-profile]

``make bench`` first installs wrk, nginx, redis-server and haproxy (Debian) and py-spy.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from bench.figures import build_rows
from bench.profiling import profile_under_load
from bench.session import Session, Target, running_session
from bench.table import LEGEND, Row, markdown, print_table
from bench.wrk import RunResult, run_wrk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.md"
console = Console(stderr=True, highlight=False, width=200)


def measure(
    targets: Mapping[str, Target], runs: int, seconds: float, warmup_s: float, workdir: Path
) -> dict[str, list[RunResult]]:
    """Each target once per round, rounds interleaved, so drift hits every target alike."""
    if warmup_s > 0:
        for target in targets.values():
            run_wrk(target.load, warmup_s, workdir)
    results: dict[str, list[RunResult]] = {key: [] for key in targets}
    for round_no in range(1, runs + 1):
        for key, target in targets.items():
            result = run_wrk(target.load, seconds, workdir)
            results[key].append(result)
            flag = "  BUSY" if result.cpu.busy else ""
            console.print(
                f"  run {round_no}/{runs} {key:<16} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.1f} ms  "
                f"p99 {result.p99_ms:7.1f} ms  idle {result.cpu.idle:4.0%}  others {result.cpu.others:4.0%}{flag}"
            )
    return results


def _clock(started: float) -> str:
    return f"[{time.monotonic() - started:5.0f} s]"


def profiles_of_misses(
    rows: Sequence[Row], session: Session, seconds: float, workdir: Path
) -> list[tuple[str, str]]:
    """A py-spy summary of the gateway under each missed figure's load."""
    found = []
    done: set[str] = set()
    for row in rows:
        target = session.targets.get(row.source)
        if row.met is not False or target is None or target.gateway is None or row.source in done:
            continue
        done.add(row.source)
        console.print(f"profiling {row.source} (py-spy, {seconds:g} s)")
        profile = profile_under_load(target.gateway.pid, target.load, seconds, workdir)
        summary = (
            "py-spy is not installed (pip install -e '.[bench]')" if profile is None else profile.summary()
        )
        found.append((f"{row.section}: {row.figure}", summary))
    return found


def machine() -> str:
    memory = next(
        line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    gib = int(memory.split()[1]) / 1024 / 1024
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor() or "unknown CPU",
    )
    return f"{os.cpu_count()} cores ({model}), {gib:.0f} GiB RAM, Python {platform.python_version()}, Linux {platform.release()}"


def report(
    rows: Sequence[Row],
    profiles: Sequence[tuple[str, str]],
    *,
    when: datetime,
    elapsed_s: float,
    runs: int,
    seconds: float,
) -> str:
    missed = [row for row in rows if row.met is False]
    busy = [row for row in rows if row.busy]
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {when:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Method: `python -m bench` — medians of {runs} wrk runs of {seconds:g} s each (rounds interleaved), "
        f"every server a separate process; whole run {elapsed_s / 60:.1f} min",
        f"- Targets: {sum(r.met is True for r in rows)} met, {len(missed)} missed"
        + (f"; {len(busy)} figures had BUSY runs (rerun on an idle machine)" if busy else "; no busy runs"),
        "",
        markdown(rows),
        "",
        LEGEND,
        "",
    ]
    if profiles:
        lines += ["## Closing note: where the time goes (py-spy, missed targets)", ""]
        for title, summary in profiles:
            lines += [f"**{title}** — {summary}", ""]
    return "\n".join(lines)


README = ROOT / "README.md"
QUOTE_START, QUOTE_END = "<!-- bench:latest -->", "<!-- /bench:latest -->"


def quote_in_readme(text: str) -> None:
    """Put the results (headings one level down) between the README's two markers."""
    readme = README.read_text()
    start, end = readme.find(QUOTE_START), readme.find(QUOTE_END)
    if start < 0 or end < start:
        console.print(f"README.md has no {QUOTE_START} … {QUOTE_END} block: not quoted")
        return
    body = text.replace("\n## ", "\n#### ").replace("# Benchmark results\n", "### Latest results\n", 1)
    README.write_text(readme[: start + len(QUOTE_START)] + "\n" + body.strip() + "\n" + readme[end:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk run (default 5)")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)"
    )
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of unrecorded load per target first (0: none)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy on missed targets")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"markdown output (default {RESULTS})")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    parser.add_argument(
        "--readme", action="store_true", help="also quote the table in README.md (make bench does)"
    )
    args = parser.parse_args(argv)

    started, when = time.monotonic(), datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="ogw-bench-"))
    workdir.chmod(0o755)  # nginx's worker may run as nobody
    try:
        console.print(f"starting servers in {workdir}")
        with running_session(workdir, log=lambda text: console.print(f"{_clock(started)} {text}")) as session:
            console.print(
                f"measuring {len(session.targets)} targets × {args.runs} runs of {args.seconds:g} s"
            )
            results = measure(session.targets, args.runs, args.seconds, args.warmup, workdir)
            rows = build_rows(session, results)
            profiles = [] if args.no_profile else profiles_of_misses(rows, session, args.seconds, workdir)
    finally:
        if args.keep:
            console.print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    text = report(rows, profiles, when=when, elapsed_s=elapsed, runs=args.runs, seconds=args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.readme:
        quote_in_readme(text)
    print_table(rows, f"Order Gateway benchmarks — {when:%Y-%m-%d %H:%M} UTC — {machine()}")
    for title, summary in profiles:
        print(f"\n{title}\n  {summary}")
    print(f"\nwritten to {args.out} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
