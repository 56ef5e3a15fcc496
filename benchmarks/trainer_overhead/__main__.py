"""`python -m benchmarks.trainer_overhead`."""

from benchmarks.trainer_overhead import main

raise SystemExit(main())
