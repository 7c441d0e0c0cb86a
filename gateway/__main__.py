"""The ``gateway`` command: ``serve``, ``demo``, ``sim``, ``keys new`` and ``orders``."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from typing import Any

import uvicorn
import yaml

from gateway.auth import new_key
from gateway.cli.arguments import add_orders_parser
from gateway.settings import (
    CONFIG_ENV_VAR,
    SCOPES,
    ConfigError,
    ServerSettings,
    Settings,
    load_settings,
    settings_from_mapping,
)

EXIT_CONFIG = 2
DEMO_KEY_NAME = "demo"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"serve": _serve, "demo": _demo, "sim": _sim, "keys": _keys, "orders": _orders}[args.command]
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Order Gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway from a config file")
    serve.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV_VAR})")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    demo = commands.add_parser("demo", help="the gateway in front of built-in simulated upstreams")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--orders", type=int, default=500, help="orders per simulated upstream")

    sim = commands.add_parser("sim", help="one simulated upstream speaking its real API")
    sim.add_argument("kind", choices=["waldur", "ivcap", "arrow"])
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, required=True)
    sim.add_argument("--orders", type=int, default=500)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--token", help="the credential the simulator requires (printed when not given)")
    sim.add_argument("--latency-ms", type=int, default=0)
    sim.add_argument("--dialect", choices=["current", "legacy"], help="ivcap only (default: current)")

    keys = commands.add_parser("keys", help="API key tools")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = keys_commands.add_parser("new", help="make a fresh key and print its config stanza")
    new.add_argument("--name", required=True)
    new.add_argument("--scopes", required=True, help=f"comma list of: {', '.join(SCOPES)}")
    new.add_argument("--providers", help="comma list of instances (default: all)")

    add_orders_parser(commands)
    return parser


def _orders(args: argparse.Namespace) -> int:
    from gateway.cli.commands import run_orders

    return run_orders(args)


def _serve(args: argparse.Namespace) -> int:
    path = args.config or os.environ.get(CONFIG_ENV_VAR)
    if not path:
        print(f"gateway: no config: pass --config FILE or set {CONFIG_ENV_VAR}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"gateway: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from gateway.app import create_app

    _configure_logging(settings.server.log_level)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, **_server_options(settings.server))
    return 0


def _server_options(server: ServerSettings | None = None) -> dict[str, Any]:
    """uvicorn's options: with ``server``, the gateway's limits on request heads and idle
    connections (gateway/server.py); without, a simulator's (uvicorn's own protocol)."""
    from gateway.server import server_options  # imported when serving: the CLI starts faster

    return server_options(server)


def _keys(args: argparse.Namespace) -> int:
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        print(f"gateway: --scopes takes a comma list of: {', '.join(SCOPES)}", file=sys.stderr)
        return EXIT_CONFIG
    key, digest = new_key()
    stanza: dict[str, object] = {"name": args.name, "sha256": digest, "scopes": scopes}
    if args.providers:
        stanza["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    print(f"API key (shown once, store it now): {key}")
    print("Add to api_keys in the config:")
    print(yaml.safe_dump([stanza], sort_keys=False).rstrip())
    return 0


def _sim(args: argparse.Namespace) -> int:
    from gateway.sim.registry import SIMULATORS

    kind = SIMULATORS[args.kind]
    if args.dialect and args.kind != "ivcap":
        print("gateway: --dialect applies to the ivcap simulator only", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging("warning")
    token = args.token or secrets.token_urlsafe(24)
    if not args.token:
        print(f"simulated {args.kind} requires: {kind.credential.format(token=token)}")
    extra = {"dialect": args.dialect or "current"} if args.kind == "ivcap" else {}
    app = kind.build(orders=args.orders, seed=args.seed, token=token, latency_ms=args.latency_ms, **extra)
    print(f"simulated {args.kind} on http://{args.host}:{args.port}{kind.base_path}")
    uvicorn.run(app, host=args.host, port=args.port, **_server_options())
    return 0


def _demo(args: argparse.Namespace) -> int:
    try:
        gateway_socket = _bind(args.host, args.port)
    except OSError as exc:
        print(f"gateway: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    asyncio.run(_run_demo(args, gateway_socket))
    return 0


async def _run_demo(args: argparse.Namespace, gateway_socket: socket.socket) -> None:
    from gateway.app import create_app
    from gateway.sim.registry import SIMULATORS

    _configure_logging("warning")  # JSON lines, but only what needs attention: this is a terminal

    tokens = {kind: secrets.token_urlsafe(24) for kind in SIMULATORS}
    sims = {
        kind: sim.build(orders=args.orders, seed=1, token=tokens[kind]) for kind, sim in SIMULATORS.items()
    }
    sim_sockets = {kind: _bind("127.0.0.1", 0) for kind in sims}
    key, digest = new_key()
    base = f"http://{args.host}:{gateway_socket.getsockname()[1]}"
    sim_urls = {
        kind: f"http://127.0.0.1:{s.getsockname()[1]}{SIMULATORS[kind].base_path}"
        for kind, s in sim_sockets.items()
    }
    settings = demo_settings(base, sim_urls, tokens, digest)
    apps: list[tuple[Any, socket.socket, dict[str, Any]]] = [
        (app, sim_sockets[kind], _server_options()) for kind, app in sims.items()
    ]
    apps.append((create_app(settings), gateway_socket, _server_options(settings.server)))
    servers = [(uvicorn.Server(uvicorn.Config(app, **options)), sock) for app, sock, options in apps]
    print(f"Order Gateway demo on {base} (simulated {', '.join(sims)})")
    print(f"demo API key (orders:read, orders:write, orders:admin): {key}")
    print(f"try: curl -H 'Authorization: Bearer {key}' '{base}/orders?limit=5'")
    print("Ctrl-C stops it.")
    await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))


# The config key under which each kind takes its credential.
CREDENTIAL_KEYS = {"waldur": "token", "ivcap": "token", "arrow": "api_key"}


def demo_settings(
    gateway_url: str, sim_urls: dict[str, str], tokens: dict[str, str], key_digest: str
) -> Settings:
    """The demo's configuration: one instance per simulator (named after its kind), one key."""
    raw = {
        "providers": {
            kind: {"kind": kind, "base_url": url, "public_url": url, CREDENTIAL_KEYS[kind]: tokens[kind]}
            for kind, url in sim_urls.items()
        },
        "api_keys": [{"name": DEMO_KEY_NAME, "sha256": key_digest, "scopes": list(SCOPES)}],
        "server": {"public_url": gateway_url},
    }
    return settings_from_mapping(raw, env={})


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then; without
    # it small answers stall ~40 ms on Nagle's algorithm and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _configure_logging(level: str) -> None:
    from gateway.logs import configure_logging

    configure_logging(level)


if __name__ == "__main__":
    sys.exit(main())
