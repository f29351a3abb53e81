"""Reporting: a sweep folder turned into tables and figures (``python -m initlab.report``).

Modules:

- ``jobs``: a sweep folder's jobs (overrides, record, status, scalars) and the grid's axes;
- ``tables``: one row per grid point, mean ± std over seeds, as markdown and CSV; a tag at steps;
- ``sweep_figures``: the ranking or heatmaps, the curves and the depth profiles;
- ``wording``: what the figures say: quantities in words with units, the seeds behind a point;
- ``sweep``: ``<sweep>/report/`` written from them, and ``initlab-report``'s command line.

It reads what runs leave (their records and TensorBoard events), never what trains them.

May import: runtime, config, training.record.
"""
