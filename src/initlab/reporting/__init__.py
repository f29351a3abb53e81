"""Reporting: a sweep folder turned into tables and figures (``python -m initlab.report``).

Modules:

- ``sweep``: a sweep's records and events read, summarized over seeds, tabled and drawn.

It reads what runs leave (their records and TensorBoard events), never what trains them.

May import: runtime, config, training.record.
"""
