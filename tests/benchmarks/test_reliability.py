"""The soak's latency split (benchmarks/reliability.py): a stall at the hot swap shows in the
"around the swap" figures and not in the steady state's, so a slow swap is told from a slow server."""

from benchmarks.reliability import latency_by_window


def test_a_stall_at_the_swap_shows_around_it_and_nowhere_else():
    # 100 s at 10 req/s, swap at 50 s: every request takes 10 ms except the 20 sent in the 2 s
    # before the swap (100 ms). "Around" is 40..80 s (401 rows, 20 slow: p99 is 100); before
    # (<40 s, 400 rows) and after (>80 s, 199 rows) are all 10 ms. The run's slowest 1% are
    # 10 rows, all slow ones, all sent around the swap.
    rows = [(i / 10, 100.0 if 480 <= i < 500 else 10.0, 200, None) for i in range(1000)]
    out = latency_by_window(rows, swap_at=50.0, seconds=100.0)
    assert out["p99_ms_before_swap"] == 10.0
    assert out["p99_ms_around_swap"] == 100.0
    assert out["p99_ms_after_swap"] == 10.0
    assert out["slowest_1pct_around_swap"] == "10 of 10"
    assert out["around_swap_slower_than_p99_before"] == 20
    # 10-s steps: only 40..50 s holds the slow requests (20 of 100: its p99 is 100).
    assert out["p99_ms_every_10s"] == [[t, 100.0 if t == 40 else 10.0] for t in range(0, 100, 10)]


def test_a_slow_steady_state_is_not_blamed_on_the_swap():
    # The same run with the slow requests early (at 10..12 s): around the swap is clean.
    rows = [(i / 10, 100.0 if 100 <= i < 120 else 10.0, 200, None) for i in range(1000)]
    out = latency_by_window(rows, swap_at=50.0, seconds=100.0)
    assert out["p99_ms_before_swap"] == 100.0
    assert out["p99_ms_around_swap"] == 10.0
    assert out["slowest_1pct_around_swap"] == "0 of 10"
    assert out["around_swap_slower_than_p99_before"] == 0
