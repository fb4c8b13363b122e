"""Measuring: the bench (engine against direct calls, cold starts as Lambda runs them, package sizes), the
census of AWS requests per order, prices, capacity and quotas, and the published chart."""
