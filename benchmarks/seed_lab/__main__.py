"""`python -m benchmarks.seed_lab`."""

from benchmarks.seed_lab import main

raise SystemExit(main())
