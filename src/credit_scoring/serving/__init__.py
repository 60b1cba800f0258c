"""Serving: the Bento model (import from the registry, load at start-up), the HTTP contract, its guards."""
