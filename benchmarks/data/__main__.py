"""`python -m benchmarks.data`."""

from benchmarks.data import main

raise SystemExit(main())
