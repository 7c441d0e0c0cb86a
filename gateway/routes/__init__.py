"""Thin HTTP endpoints: parse, call the service, render."""
