"""Pure-ASGI middleware of the gateway."""
