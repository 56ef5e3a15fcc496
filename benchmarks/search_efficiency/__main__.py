"""`python -m benchmarks.search_efficiency`."""

from benchmarks.search_efficiency import main

raise SystemExit(main())
