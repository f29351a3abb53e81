"""Diagnostics: the per-layer statistics callback, its sites and its figures."""
