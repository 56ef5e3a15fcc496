"""`python -m benchmarks.model_sizes`."""

from benchmarks.model_sizes import main

raise SystemExit(main())
