"""`python -m benchmarks.pilot`."""

from benchmarks.pilot import main

raise SystemExit(main())
