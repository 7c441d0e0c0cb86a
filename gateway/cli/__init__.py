"""``gateway orders``: a command-line client of a running gateway, over HTTP only."""
