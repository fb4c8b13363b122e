"""Chaos runs: thousands of random orders with injected faults, checked against the saga's invariants."""
