"""The arguments of ``gateway orders``: options, filters and how they map to query parameters."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.client import DEFAULT_URL, KEY_ENV, URL_ENV

SORTS = ("-created_at", "created_at", "-updated_at", "updated_at")
STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled", "rejected")
MAX_PAGE_SIZE = 200

KEY_NOTE = (
    f"The API key is read from ${KEY_ENV} only, never from a flag: flags end up in shell "
    "history and in process lists. Exit codes: 0 done, 1 the gateway refused or failed, "
    "2 usage or configuration."
)

# Option → GET /orders parameter; repeatable options also take comma lists.
FILTERS: dict[str, str] = {
    "provider": "provider",
    "status": "status",
    "provider_status": "provider_status",
    "customer": "customer",
    "service": "service",
    "created_after": "created_after",
    "created_before": "created_before",
    "updated_after": "updated_after",
    "q": "q",
    "sort": "sort",
}


def add_orders_parser(commands: Any) -> None:
    """Add ``orders`` (with ``list``, ``show`` and ``export``) to the ``gateway`` subcommands."""
    orders = commands.add_parser(
        "orders",
        help="list, show and export orders of a running gateway",
        description=f"A client of a running gateway. {KEY_NOTE}",
    )
    sub = orders.add_subparsers(dest="orders_command", required=True)

    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--url", help=f"the gateway (default: ${URL_ENV}, else {DEFAULT_URL})")
    connection.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")

    filters = argparse.ArgumentParser(add_help=False)
    group = filters.add_argument_group("filters (GET /orders parameters)")
    group.add_argument("--provider", action="append", help="instance name; repeat or comma list")
    group.add_argument("--status", action="append", help=f"one of {', '.join(STATUSES)}; repeatable")
    group.add_argument("--provider-status", action="append", help="the upstream's own state; repeatable")
    group.add_argument("--customer", help="customer id")
    group.add_argument("--service", help="service id")
    group.add_argument("--created-after", metavar="TIME", help="RFC 3339, inclusive")
    group.add_argument("--created-before", metavar="TIME", help="RFC 3339, exclusive")
    group.add_argument("--updated-after", metavar="TIME", help="RFC 3339, inclusive")
    group.add_argument(
        "--search", "--q", dest="q", metavar="TEXT", help="free text: name, native id, customer"
    )
    group.add_argument("--sort", choices=SORTS, help="default -created_at (newest first)")

    listing = sub.add_parser(
        "list", parents=[connection, filters], help="one page as a table", description=KEY_NOTE
    )
    listing.add_argument("--limit", type=_page_size, help="orders per page, 1-200 (gateway default 50)")
    listing.add_argument("--cursor", help="next_cursor of the previous page")
    listing.add_argument(
        "--require", choices=("any", "all"), help="all: fail rather than show a partial page"
    )
    listing.add_argument("--json", action="store_true", help="print the gateway's JSON answer")

    show = sub.add_parser("show", parents=[connection], help="one order", description=KEY_NOTE)
    show.add_argument("order_id", metavar="ID", help="global id, <instance>:<native id>")
    show.add_argument("--json", action="store_true", help="print the gateway's JSON answer")

    export = sub.add_parser(
        "export",
        parents=[connection, filters],
        help="every matching order into a file, resumable",
        description=(
            "Walk the whole listing into FILE with a progress bar. After each page the file is "
            "synced and FILE.resume records the next cursor; run the same command again after an "
            f"interruption and it carries on where it stopped. {KEY_NOTE}"
        ),
    )
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="default jsonl")
    export.add_argument("--out", required=True, metavar="FILE", help="the output file (overwritten)")
    export.add_argument("--restart", action="store_true", help="ignore FILE.resume and start again")
    export.add_argument("--page-size", type=_page_size, default=MAX_PAGE_SIZE, help="1-200 (default 200)")
    export.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def query_params(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The filter options as ``GET /orders`` parameters, in a fixed order."""
    params: list[tuple[str, str]] = []
    for option, name in FILTERS.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            params.append((name, item))
    return params


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return value
