"""``python -m bench``: run the suite, print and write the table, exit 1 if a target fails."""

from bench.suite import main

raise SystemExit(main())
