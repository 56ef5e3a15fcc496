"""Test machinery that tests and benchmarks share: a throwaway PostgreSQL (`postgres`), the CLI as a
user runs it (`cli`), waiting for a state (`waiting`), and trainer doubles (`doubles`,
`doubles_faults`). Imports hpsearch; never imports pytest, so `make bench` needs no test runner."""
