"""The fair share's rules (providers/fairshare.py): who yields, who is sent next, by weight. Pure."""

from __future__ import annotations

from providers.fairshare import OwnerLoad, shares, should_yield, to_send

DEPTH = 100_000


def test_a_single_owner_never_yields_however_much_it_has_in_flight():
    assert not should_yield([OwnerLoad("alice", 10_000_000, 0)], "alice", tokens=5_000, depth=DEPTH)


def test_an_owner_at_its_share_yields_to_another_with_work_and_keeps_one_group():
    loads = [OwnerLoad("alice", 900_000, 0), OwnerLoad("bob", 0, 20_000)]
    assert should_yield(loads, "alice", tokens=5_000, depth=DEPTH)
    assert to_send(loads, depth=DEPTH) == {"bob": 50_000}
    down_to_its_share = [OwnerLoad("alice", 54_000, 846_000), OwnerLoad("bob", 50_000, 0)]
    assert not should_yield(down_to_its_share, "alice", tokens=5_000, depth=DEPTH)  # 49,000 without it: under 50,000
    only_one_group = [OwnerLoad("alice", 90_000, 0), OwnerLoad("bob", 80_000, 0)]
    assert not should_yield(only_one_group, "bob", tokens=80_000, depth=DEPTH)  # one group, however large


def test_weights_split_the_depth_and_an_owner_under_its_share_may_send_one_more_group():
    loads = [OwnerLoad("alice", 70_000, 500_000, weight=3), OwnerLoad("bob", 30_000, 40_000, weight=1)]
    assert shares(loads, DEPTH) == {"alice": 75_000, "bob": 25_000}
    assert to_send(loads, depth=DEPTH) == {"alice": 5_000}  # bob holds his quarter already
    assert should_yield(loads, "bob", tokens=4_000, depth=DEPTH)
    assert to_send([OwnerLoad("carol", 0, 1)], depth=DEPTH) == {"carol": DEPTH}


def test_owners_without_work_take_no_share_and_fair_share_off_sends_everything():
    loads = [OwnerLoad("alice", 60_000, 10_000), OwnerLoad("idle", 0, 0, weight=100)]
    assert shares(loads, DEPTH) == {"alice": DEPTH}
    assert not should_yield(loads, "alice", tokens=1_000, depth=DEPTH)
    assert not should_yield([OwnerLoad("a", 10**9, 0), OwnerLoad("b", 1, 0)], "a", tokens=1, depth=0)
    off = to_send([OwnerLoad("a", 10**9, 5), OwnerLoad("b", 0, 7)], depth=0)  # every held group goes
    assert set(off) == {"a", "b"} and min(off.values()) > 10**18


def test_a_backlog_still_queued_makes_its_owner_active_but_not_over_its_share():
    # alice's backfill waits in the queue's backlog (never claimed); bob has just started
    loads = [OwnerLoad("alice", 20_000, 0, queued=900_000), OwnerLoad("bob", 0, 0, queued=30_000)]
    assert shares(loads, DEPTH) == {"alice": 50_000, "bob": 50_000}  # both take a share
    assert not should_yield(loads, "alice", tokens=5_000, depth=DEPTH)  # her tasks run while under it
    assert not should_yield(loads, "bob", tokens=5_000, depth=DEPTH)
    at_her_share = [OwnerLoad("alice", 60_000, 0, queued=860_000), OwnerLoad("bob", 30_000, 0)]
    assert should_yield(at_her_share, "alice", tokens=5_000, depth=DEPTH)
    assert to_send([OwnerLoad("alice", 0, 0, queued=10**6), OwnerLoad("bob", 0, 9, queued=0)], depth=DEPTH) == {
        "bob": DEPTH // 2
    }  # only held groups are sent by the dispatcher
