"""Tables and figures from a sweep folder: ``python scripts/report.py logs/multiruns/<sweep>``
(calls initlab.report; also ``python -m initlab.report`` and ``initlab-report``)."""

from initlab.reporting.sweep import main

if __name__ == "__main__":
    main()
