"""`python -m benchmarks.zoom_confirm`."""

from benchmarks.zoom_confirm import main

raise SystemExit(main())
