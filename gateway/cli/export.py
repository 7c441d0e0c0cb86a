"""``gateway orders export``: walk the whole cursor into a file, durably, resumable after a kill.

After each page the output is flushed and fsynced, then the resume state (next cursor, the
byte length of the output so far, the order count) replaces the previous one. A rerun with
the same filters and format truncates the output to that length (dropping a page written
after the last state) and carries on from the cursor; a finished walk deletes the state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.cli.client import GatewayClient, GatewayProblemError, Params, UsageError
from gateway.cli.resume import (
    ExportState,
    canonical_query,
    load_state,
    remove_state,
    save_state,
    state_path,
)
from gateway.cli.rows import FORMATS, HEADERS

DEFAULT_PAGE_SIZE = 200  # the gateway's largest page: fewest requests and resume points


class ResumeRefusedError(GatewayProblemError):
    """The gateway would not take the saved cursor (expired, or another key or secret)."""

    def describe(self) -> str:
        return (
            f"cannot resume: the gateway refused the saved cursor ({super().describe()}); "
            "rerun with --restart to export from the beginning"
        )


@dataclass(frozen=True, slots=True)
class ExportResult:
    count: int
    resumed_from: int | None  # the order count the run resumed after, None for a fresh start


def export_orders(
    client: GatewayClient,
    params: Params,
    *,
    format: str,
    output: Path,
    restart: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_start: Callable[[int | None], None] = lambda resumed_from: None,
    on_page: Callable[[int], None] = lambda count: None,
) -> ExportResult:
    """Write every order matching ``params`` to ``output``; ``on_page`` gets the running count."""
    query = canonical_query(list(params))
    state_file = state_path(output)
    state = None if restart else load_state(state_file)
    if state is not None and not state.matches(format, query):
        raise UsageError(
            f"{state_file} belongs to an export with other filters or format; "
            "rerun it with those, or pass --restart"
        )
    if restart:
        remove_state(state_file)
    file, cursor, count = _open(output, format, state)
    on_start(state.count if state else None)
    with file:
        while True:
            page_params = [*query, ("limit", str(page_size)), ("require", "all")]
            try:
                body = client.list_orders([*page_params, *([("cursor", cursor)] if cursor else [])])
            except GatewayProblemError as exc:
                if state is not None and cursor == state.cursor and exc.slug == "invalid-cursor":
                    raise ResumeRefusedError(exc.status, exc.problem) from exc
                raise
            orders = body.get("data") or []
            file.write(FORMATS[format](orders))
            file.flush()
            os.fsync(file.fileno())
            count += len(orders)
            cursor = body.get("next_cursor")
            if not cursor:
                break
            save_state(state_file, ExportState(format, query, cursor, count, file.tell()))
            on_page(count)
    remove_state(state_file)
    on_page(count)
    return ExportResult(count=count, resumed_from=state.count if state else None)


def _open(output: Path, format: str, state: ExportState | None) -> tuple[BinaryIO, str | None, int]:
    """The output positioned to write, the cursor to go on from, and the orders already in it."""
    file: BinaryIO
    if state is None:
        file = output.open("wb")
        file.write(HEADERS[format]())
        return file, None, 0
    try:
        file = output.open("r+b")
    except FileNotFoundError:
        raise UsageError(f"{output} is gone but {state_path(output)} remains; pass --restart") from None
    size = file.seek(0, os.SEEK_END)
    if size < state.size:
        file.close()
        raise UsageError(f"{output} is shorter than its resume state records; pass --restart")
    file.truncate(state.size)  # drops a page written after the last saved state
    file.seek(state.size)
    return file, state.cursor, state.count
