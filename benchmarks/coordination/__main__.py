"""`python -m benchmarks.coordination`."""

from benchmarks.coordination import main

raise SystemExit(main())
