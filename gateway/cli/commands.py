"""``gateway orders list|show|export``: run a parsed command, print to a person, exit with a code."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.cli.arguments import query_params
from gateway.cli.client import CliError, GatewayClient, UsageError, api_key, gateway_url
from gateway.cli.export import ResumeRefusedError, export_orders
from gateway.cli.resume import state_path

EXIT_INTERRUPTED = 130
PROG = "gateway orders"


def run_orders(
    args: argparse.Namespace,
    *,
    env: Mapping[str, str] | None = None,
    stdout: Console | None = None,
    stderr: Console | None = None,
) -> int:
    """Run one ``gateway orders`` command; errors become one line on stderr and an exit code."""
    out = stdout or Console(soft_wrap=True, highlight=False)
    err = stderr or Console(stderr=True, soft_wrap=True, highlight=False)
    command: Callable[[GatewayClient, argparse.Namespace, Console, Console], int] = {
        "list": _list,
        "show": _show,
        "export": _export,
    }[args.orders_command]
    try:
        environment = os.environ if env is None else env
        url = gateway_url(args.url, environment)
        with GatewayClient(url, api_key(environment), timeout_s=args.timeout) as client:
            return command(client, args, out, err)
    except CliError as exc:
        err.print(f"{PROG}: {escape(str(exc))}")
        return exc.exit_code
    except KeyboardInterrupt:
        err.print(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED


def _list(client: GatewayClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    params = query_params(args)
    for name in ("limit", "cursor", "require"):
        if getattr(args, name) is not None:
            params.append((name, str(getattr(args, name))))
    body = client.list_orders(params)
    if args.json:
        out.print_json(data=body)
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "PROVIDER", "STATUS", "CREATED", "NAME / CUSTOMER", "TOTAL"):
        # Whole ids when there is room; folded rather than hidden in a narrow terminal.
        table.add_column(column, overflow="fold", no_wrap=column == "ID" and out.width >= 120)
    for order in body.get("data", []):
        table.add_row(*(escape(cell) for cell in _summary(order)))
    out.print(table)
    failed = [name for name, r in (body.get("providers") or {}).items() if r.get("status") == "error"]
    if failed:
        err.print(f"partial: no answer from {', '.join(failed)} (their orders come on later pages)")
    if body.get("next_cursor"):
        err.print(f"more: --cursor {escape(body['next_cursor'])}")
    return 0


def _summary(order: Mapping[str, Any]) -> list[str]:
    customer = (order.get("customer") or {}).get("name")
    label = " / ".join(part for part in (order.get("name"), customer) if part)
    return [
        order.get("id", ""),
        order.get("provider", ""),
        order.get("status", ""),
        order.get("created_at", ""),
        label,
        _money(order.get("total")),
    ]


def _money(total: Mapping[str, Any] | None) -> str:
    return f"{total['amount']} {total['currency']}" if total else ""


def _show(client: GatewayClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    order = client.get_order(args.order_id)
    if args.json:
        out.print_json(data=order)
        return 0
    fields = Table(box=None, show_header=False, pad_edge=False)
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")

    def ref(value: Mapping[str, Any] | None) -> str:
        return f"{value.get('name') or ''} ({value['id']})".strip() if value else ""

    rows = {
        "id": order.get("id"),
        "provider": f"{order.get('provider')} ({order.get('provider_kind')})",
        "native id": order.get("native_id"),
        "name": order.get("name"),
        "status": f"{order.get('status')} (upstream: {order.get('provider_status')})",
        "created": order.get("created_at"),
        "updated": order.get("updated_at"),
        "completed": order.get("completed_at"),
        "customer": ref(order.get("customer")),
        "service": ref(order.get("service")),
        "total": _money(order.get("total")),
        "actions": ", ".join(order.get("actions") or ()),
        "url": (order.get("links") or {}).get("self"),
        "upstream": (order.get("links") or {}).get("upstream"),
    }
    for label, value in rows.items():
        fields.add_row(label, escape(str(value)) if value else "-")
    out.print(fields)
    if order.get("items"):
        items = Table(title="items", box=None, header_style="bold", pad_edge=False, title_justify="left")
        for column in ("ID", "NAME", "QUANTITY", "STATUS", "UNIT PRICE"):
            items.add_column(column)
        for item in order["items"]:
            quantity = item.get("quantity")
            items.add_row(
                *(
                    escape(str(cell))
                    for cell in (
                        item.get("id") or "",
                        item.get("name") or "",
                        "" if quantity is None else quantity,
                        item.get("status") or "",
                        _money(item.get("unit_price")),
                    )
                )
            )
        out.print(items)
    if order.get("extra"):
        out.print("[bold]extra[/bold]")
        out.print_json(json.dumps(order["extra"]))
    return 0


def _export(client: GatewayClient, args: argparse.Namespace, out: Console, err: Console) -> int:
    output = Path(args.out)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("exporting to {task.fields[target]}"),
        BarColumn(),  # total unknown: a pulse
        TextColumn("[bold]{task.completed:,.0f}[/bold] orders"),
        TimeElapsedColumn(),
        console=err,
        disable=args.no_progress or not err.is_terminal,
        transient=True,
    )
    task = progress.add_task("export", total=None, target=escape(str(output)))
    count = 0

    def started(resumed_from: int | None) -> None:
        nonlocal count
        count = resumed_from or 0
        progress.update(task, completed=count)
        if resumed_from is not None:
            err.print(f"resuming {escape(str(output))} after {resumed_from:,} orders")

    def advanced(total: int) -> None:
        nonlocal count
        count = total
        progress.update(task, completed=total)

    try:
        with progress:
            result = export_orders(
                client,
                query_params(args),
                format=args.format,
                output=output,
                restart=args.restart,
                page_size=args.page_size,
                on_start=started,
                on_page=advanced,
            )
    except (CliError, KeyboardInterrupt) as exc:
        if not isinstance(exc, UsageError | ResumeRefusedError) and state_path(output).exists():
            err.print(f"stopped after {count:,} orders; run the same command again to resume")
        raise
    err.print(f"exported {result.count:,} orders to {escape(str(output))}")
    return 0
