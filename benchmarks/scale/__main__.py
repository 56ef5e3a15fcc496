"""`python -m benchmarks.scale`."""

from benchmarks.scale import main

raise SystemExit(main())
