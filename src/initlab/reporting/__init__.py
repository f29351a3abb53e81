"""Reporting: a sweep folder turned into tables and figures."""
