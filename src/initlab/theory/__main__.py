"""``python -m initlab.theory`` (:mod:`initlab.theory.command`)."""

import sys

from initlab.theory.command import main

sys.exit(main())
