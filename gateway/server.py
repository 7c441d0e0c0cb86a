"""How ``gateway serve`` and ``gateway demo`` run uvicorn: its options, and an HTTP protocol
that bounds a request's header block in size (431) and in time (408).

uvicorn (0.54, httptools) reads a request line and headers of any length, at any pace: only
an idle connection *between* requests is timed (``timeout_keep_alive``). A client that
sends a header a minute (slowloris) or a megabyte of headers holds a connection and its
memory for as long as it likes. ``GuardedHttpToolsProtocol`` counts the bytes of each
request's head and times it from its first byte (from the connection's start, for the first
request): past ``server.max_header_bytes`` it answers 431, past ``server.header_timeout_s``
408 — both problems, then it closes. A connection that sent nothing of a new request is
closed without an answer (an unsolicited 408 could be read as the answer to a request the
client sends at the same moment). A slow *body* is the app's to refuse
(``middleware/limits.py``): by then there is a request to answer.
"""

from __future__ import annotations

import asyncio
import uuid
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.errors import ClientTimeoutError, GatewayError, HeadersTooLargeError
from gateway.middleware.security_headers import (
    ALWAYS,
    API_CONTENT_SECURITY_POLICY,
    PROBLEM_CACHE_CONTROL,
)
from gateway.problems import PROBLEM_MEDIA_TYPE, problem_body
from gateway.settings import ServerSettings

_HEAD_END = b"\r\n\r\n"


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head (see the module docstring).
    The limits are class attributes: ``guarded_protocol`` makes a subclass per server."""

    max_header_bytes: ClassVar[int] = ServerSettings().max_header_bytes
    header_timeout_s: ClassVar[float] = ServerSettings().header_timeout_s

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._tail = b""  # the last bytes seen, for a head end split between two reads
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._head_timer is None:
                self._start_head_timer()
            window = self._tail + data
            end = window.find(_HEAD_END)
            self._head_bytes += len(data) if end < 0 else max(0, end + len(_HEAD_END) - len(self._tail))
            self._tail = window[-(len(_HEAD_END) - 1) :]
            if self._head_bytes > self.max_header_bytes:
                self._refuse(
                    HeadersTooLargeError(
                        f"The request line and headers may be at most {self.max_header_bytes} bytes."
                    )
                )
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next bytes on this connection start another request's head; its clock starts
        # with them (until then uvicorn's keep-alive timeout watches the idle connection).
        self._reading_head = True
        self._head_bytes = 0
        self._tail = b""

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._reading_head or self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # nothing of a request came: nothing to answer
            return
        self._refuse(
            ClientTimeoutError(f"The request's headers must arrive within {self.header_timeout_s:g} s.")
        )

    def _refuse(self, error: GatewayError) -> None:
        """Answer ``error`` as a problem (unless an answer is under way) and close."""
        self._stop_head_timer()
        self._reading_head = False
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(refusal_bytes(error))
        self.transport.close()


def refusal_bytes(error: GatewayError) -> bytes:
    """A whole HTTP/1.1 answer with ``error`` as its problem body, closing the connection."""
    request_id = uuid.uuid4().hex
    body = orjson.dumps(problem_body(error, request_id))
    phrase = HTTPStatus(error.status_code).phrase
    head = [
        f"HTTP/1.1 {error.status_code} {phrase}",
        f"content-type: {PROBLEM_MEDIA_TYPE}",
        f"content-length: {len(body)}",
        "connection: close",
        f"x-request-id: {request_id}",
        f"cache-control: {PROBLEM_CACHE_CONTROL}",
        f"content-security-policy: {API_CONTENT_SECURITY_POLICY}",
        *(f"{name.lower()}: {value}" for name, value in ALWAYS.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def guarded_protocol(server: ServerSettings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for one server, with its limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"max_header_bytes": server.max_header_bytes, "header_timeout_s": server.header_timeout_s},
    )


def server_options(server: ServerSettings | None = None) -> dict[str, Any]:
    """uvicorn's options. With ``server`` (the gateway): its limits on slow and large request
    heads and idle connections; without (a simulator): uvicorn's own protocol."""
    # log_config None: uvicorn's records go to the root logger (JSON, see gateway/logs.py), not
    # to handlers of its own; the gateway writes its own access lines.
    options: dict[str, Any] = {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "warning",
        "log_config": None,
    }
    if server is not None:
        options["http"] = guarded_protocol(server)
        options["timeout_keep_alive"] = server.keep_alive_s
    return options
