"""`python -m benchmarks.checkpoint_cost`."""

from benchmarks.checkpoint_cost import main

raise SystemExit(main())
