"""The result table: one row per figure with its anchor, ratio, target and the CPU it ran on;
printed with rich and written as Markdown (``bench/results/latest.md``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench.cpu import BUSY_OTHERS, CpuShare


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    value: float | None
    unit: str
    anchor: str = ""
    anchor_value: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target
    cpu: tuple[CpuShare, ...] = ()  # one per run behind ``value``
    note: str = ""
    source: str = ""  # the session target behind a gateway figure (profiled when it misses)

    @property
    def busy(self) -> bool:
        return any(share.busy for share in self.cpu)

    @property
    def verdict(self) -> str:
        verdict = "" if self.met is None else "met" if self.met else "MISSED"
        if self.busy:
            verdict = f"{verdict} BUSY".strip()
        return verdict


HEADERS = (
    "#",
    "figure",
    "value",
    "anchor",
    "ratio",
    "target",
    "verdict",
    "CPU idle / others % per run",
    "notes",
)


def number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "—"
    if unit == "req/s" or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def cpu_cell(shares: Sequence[CpuShare]) -> str:
    return " · ".join(f"{s.idle * 100:.0f}/{s.others * 100:.0f}" for s in shares) or "—"


def cells(index: int, row: Row) -> list[str]:
    anchor = f"{row.anchor} = {number(row.anchor_value, row.unit)}" if row.anchor else ""
    ratio = "—" if row.ratio is None else f"{row.ratio:.2f}"
    return [
        str(index),
        row.figure,
        number(row.value, row.unit),
        anchor,
        ratio,
        row.target,
        row.verdict,
        cpu_cell(row.cpu),
        row.note,
    ]


def print_table(rows: Sequence[Row], title: str, console: Console | None = None) -> None:
    console = console or Console(width=220)
    table = Table(title=title, show_lines=False, title_justify="left")
    for header in HEADERS:
        table.add_column(header, overflow="fold")
    section = None
    for index, row in enumerate(rows, start=1):
        if row.section != section:
            table.add_section()
            table.add_row("", f"[bold]{row.section}[/bold]", *[""] * (len(HEADERS) - 2))
            section = row.section
        style = "red" if row.met is False else ("yellow" if row.busy else None)
        table.add_row(*cells(index, row), style=style)
    console.print(table)


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    section = None
    for index, row in enumerate(rows, start=1):
        if row.section != section:
            lines.append(f"| | **{row.section}** |" + " |" * (len(HEADERS) - 2))
            section = row.section
        values = [cell.replace("|", "\\|") for cell in cells(index, row)]
        if row.met is False:
            values[6] = f"**{values[6]}**"
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


LEGEND = (
    "Figures are medians of the runs; wrk's latency percentiles. "
    "**CPU idle / others %**: per run, the share of all CPU time (every core) that was idle, and the "
    "share taken by processes outside the benchmark (or stolen by the hypervisor). A run where others "
    f"took more than {BUSY_OTHERS:.0%} is marked **BUSY**: its figures say little, rerun on an idle machine. "
    "Low idle is expected: a closed-loop load saturates the cores with wrk and the servers themselves."
)
