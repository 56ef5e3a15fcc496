"""Retries against an unreachable database wait 1 s, doubling, never more than 30 s (README, Reliability)."""

from search.core.storage import Backoff


def test_waits_double_up_to_thirty_seconds_and_start_over_after_a_success():
    backoff = Backoff()
    assert [backoff.next() for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]
    backoff.reset()
    assert backoff.next() == 1
