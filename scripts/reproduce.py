"""The literature's results, checked: ``python scripts/reproduce.py [NAME ...]`` (calls
initlab.reproduce; also ``python -m initlab.reproduce`` and ``initlab-reproduce``)."""

from initlab.reproduce import main

if __name__ == "__main__":
    main()
