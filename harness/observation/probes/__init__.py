"""Guarded network probes. Each takes the run's ScopeGuard; none opens a socket of its own."""
