"""Simulated upstreams: Starlette apps that speak each real order API on the wire."""
