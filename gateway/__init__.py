"""Order Gateway: one normalised /orders API in front of several order systems."""
