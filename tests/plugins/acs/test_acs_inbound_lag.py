"""The channel's inbound lag: frames timed by their ACS timestamp against the call's promptest,
so that ACS's clock and ours need not agree."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from artagent_acs.channel import InboundLag


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_frame_is_timed_against_the_promptest_of_its_call_one_in_every() -> None:
    seen: list[float] = []
    lag = InboundLag(seen.append, every=2)
    skew = 3600.0  # ACS's clock an hour ahead of ours: it cancels out

    lag.frame(stamp(time.time() + skew))  # not sampled (the first of two)
    lag.frame(stamp(time.time() + skew))  # sampled: the promptest so far, lag 0
    lag.frame(None)
    lag.frame(stamp(time.time() + skew - 0.050))  # sent 50 ms before it arrived, relative to that
    lag.frame(stamp(time.time() + skew))
    lag.frame("not a timestamp")  # unreadable: not counted

    assert len(seen) == 2
    assert seen[0] == 0.0
    assert 0.045 <= seen[1] <= 0.1
