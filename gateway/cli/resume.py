"""The resume state of an export: a small JSON file next to the output, replaced atomically."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.cli.client import UsageError

STATE_VERSION = 1
STATE_SUFFIX = ".resume"


@dataclass(frozen=True, slots=True)
class ExportState:
    """Where an interrupted export stands: everything up to ``size`` bytes of the output is
    ``count`` complete orders, and ``cursor`` fetches the page after them."""

    format: str
    query: tuple[tuple[str, str], ...]  # the filters and sort, canonical order; no limit or cursor
    cursor: str
    count: int
    size: int

    def matches(self, format: str, query: tuple[tuple[str, str], ...]) -> bool:
        return self.format == format and self.query == query


def state_path(output: Path) -> Path:
    return output.with_name(output.name + STATE_SUFFIX)


def canonical_query(params: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The export's identity: its parameters, sorted, without those that only page."""
    return tuple(sorted((k, v) for k, v in params if k not in ("limit", "cursor")))


def save_state(path: Path, state: ExportState) -> None:
    """Write the state durably: a temporary file, fsynced, renamed over the old one."""
    body = {
        "version": STATE_VERSION,
        "format": state.format,
        "query": [list(pair) for pair in state.query],
        "cursor": state.cursor,
        "count": state.count,
        "bytes": state.size,
    }
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        json.dump(body, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)


def load_state(path: Path) -> ExportState | None:
    """The saved state, None when there is none; a damaged file is a usage error."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != STATE_VERSION:
            raise ValueError("version")
        state = ExportState(
            format=str(raw["format"]),
            query=tuple((str(k), str(v)) for k, v in raw["query"]),
            cursor=str(raw["cursor"]),
            count=int(raw["count"]),
            size=int(raw["bytes"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path} is not a resume state this version can read; pass --restart") from exc
    if state.count < 0 or state.size < 0:
        raise UsageError(f"{path} is damaged; pass --restart")
    return state


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory is; not every platform can open one.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
