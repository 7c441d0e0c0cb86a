"""How an exported order is written: one JSON line, or one flat CSV row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Order = Mapping[str, Any]


def _ref(field: str, part: str) -> Callable[[Order], Any]:
    return lambda order: (order.get(field) or {}).get(part)


# Every normalised field that has a flat form; ``extra`` and the item details are in jsonl only.
CSV_COLUMNS: dict[str, Callable[[Order], Any]] = {
    "id": lambda o: o.get("id"),
    "provider": lambda o: o.get("provider"),
    "provider_kind": lambda o: o.get("provider_kind"),
    "native_id": lambda o: o.get("native_id"),
    "name": lambda o: o.get("name"),
    "status": lambda o: o.get("status"),
    "provider_status": lambda o: o.get("provider_status"),
    "created_at": lambda o: o.get("created_at"),
    "updated_at": lambda o: o.get("updated_at"),
    "completed_at": lambda o: o.get("completed_at"),
    "customer_id": _ref("customer", "id"),
    "customer_name": _ref("customer", "name"),
    "service_id": _ref("service", "id"),
    "service_name": _ref("service", "name"),
    "total_amount": _ref("total", "amount"),
    "total_currency": _ref("total", "currency"),
    "item_count": lambda o: len(o.get("items") or ()),
    "actions": lambda o: " ".join(o.get("actions") or ()),
    "url": _ref("links", "self"),
    "upstream_url": _ref("links", "upstream"),
}


def csv_cell(value: Any) -> str:
    """None is an empty cell; everything else its plain text (numbers as JSON writes them)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def csv_row(order: Order) -> list[str]:
    return [csv_cell(column(order)) for column in CSV_COLUMNS.values()]


def csv_header() -> bytes:
    return _csv_bytes([list(CSV_COLUMNS)])


def csv_rows(orders: Iterable[Order]) -> bytes:
    return _csv_bytes(csv_row(order) for order in orders)


def jsonl_lines(orders: Iterable[Order]) -> bytes:
    """One compact JSON object per line (UTF-8; JSON escapes newlines inside strings)."""
    return b"".join(
        json.dumps(order, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for order in orders
    )


def _csv_bytes(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)  # RFC 4180 line ends
    return buffer.getvalue().encode()


FORMATS: dict[str, Callable[[Iterable[Order]], bytes]] = {"jsonl": jsonl_lines, "csv": csv_rows}
HEADERS: dict[str, Callable[[], bytes]] = {"jsonl": lambda: b"", "csv": csv_header}
