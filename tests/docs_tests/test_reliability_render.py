"""docs/reliability.md shows only rows of tests that passed, each with its storage, stamped with the run's own date."""

from tests.reliability_tests.render import render

RUN = {
    "measured": {"date": "2026-01-02T03:04:05+00:00", "finished": "2026-01-02T03:24:05+00:00", "host": "ci-box",
                 "cores": 2, "machine": "x86_64", "python": "3.11.7", "load_average": [1.5, 1.0, 0.5]},
    "tests": {"t::passes": "passed", "t::fails": "failed", "t::skips": "skipped"},
    "rows": [
        {"test": "t::passes", "fault": "worker killed", "outcome": "retried", "figure": "4 s", "storage": "PostgreSQL",
         "passed": True},
        {"test": "t::fails", "fault": "database gone", "outcome": "recovered", "figure": "", "storage": "PostgreSQL",
         "passed": False},
    ],
}


def test_only_rows_of_passed_tests_are_shown_with_their_storage():
    page = render(RUN)
    assert "| worker killed | PostgreSQL | retried | 4 s |" in page
    assert "database gone" not in page
    assert "- failed: `t::fails`" in page and "- skipped: `t::skips`" in page
    assert "1 rows (1 on PostgreSQL) from 1 passed tests" in page


def test_the_date_and_machine_are_the_measurement_s():
    page = render(RUN)
    assert "measured 2026-01-02T03:04:05+00:00 to 2026-01-02T03:24:05+00:00 on ci-box (2 usable cores" in page
    assert "load average at the start 1.50, 1.00, 0.50" in page
