"""``python -m initlab.report <sweep>`` (``initlab-report``): a sweep's tables and figures
(:mod:`initlab.reporting`)."""

from initlab.reporting.sweep import main

if __name__ == "__main__":
    main()
