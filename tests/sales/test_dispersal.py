"""The dispersal window (ARCHITECTURE.md §5): host-side math; the contract agrees in tests/chain."""

from hypothesis import given
from hypothesis import strategies as st

from sales.dispersal import DispersalWindow, allowed_bits, distance, eligible_at, is_eligible

slot_ids = st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
hosts = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
windows = st.builds(
    DispersalWindow, initial_bits=st.integers(0, 255), window_percent=st.integers(1, 400)
)


def test_window_off_means_every_host_is_eligible_at_once() -> None:
    window = DispersalWindow()
    assert not window.enabled
    assert is_eligible(window, "0x" + "ff" * 32, "0x" + "00" * 20, 100, 60, 100)


def test_allowed_bits_grow_linearly_to_256_over_the_window() -> None:
    window = DispersalWindow(initial_bits=0, window_percent=100)
    assert allowed_bits(window, 1000, 256, 1000) == 0
    assert allowed_bits(window, 1000, 256, 1128) == 128
    assert allowed_bits(window, 1000, 256, 1256) == 256
    assert allowed_bits(window, 1000, 256, 99999) == 256


@given(windows, slot_ids, hosts, st.integers(0, 2**32), st.integers(1, 10**6))
def test_eligible_at_is_the_first_eligible_moment(window, slot, host, start, expiry) -> None:  # type: ignore[no-untyped-def]
    moment = eligible_at(window, slot, host, start, expiry)
    assert moment >= start
    assert is_eligible(window, slot, host, start, expiry, moment)
    if moment > start:
        assert not is_eligible(window, slot, host, start, expiry, moment - 1)


@given(windows, slot_ids, hosts, st.integers(0, 10**6), st.integers(0, 10**6))
def test_eligibility_never_ends_once_reached(window, slot, host, t1, t2) -> None:  # type: ignore[no-untyped-def]
    early, late = sorted((t1, t2))
    if is_eligible(window, slot, host, 0, 3600, early):
        assert is_eligible(window, slot, host, 0, 3600, late)


def test_closer_hosts_become_eligible_no_later() -> None:
    window = DispersalWindow(initial_bits=4, window_percent=100)
    slot = "0x" + "00" * 31 + "0f"
    hosts = ["0x" + f"{i:040x}" for i in range(1, 30)]
    by_distance = sorted(hosts, key=lambda h: distance(slot, h))
    times = [eligible_at(window, slot, h, 0, 1000) for h in by_distance]
    assert times == sorted(times)
