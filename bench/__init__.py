"""Benchmarks of the gateway against anchors measured in the same run: ``python -m bench``."""
