"""Packing: every group fits the API's per-request caps and the configured token budget."""

from hypothesis import given
from hypothesis import strategies as st

from providers.packing import Item, pack

items = st.lists(
    st.builds(Item, chunk_id=st.integers(0, 10**6), inputs=st.integers(1, 40), tokens=st.integers(1, 9000)),
    max_size=400,
)


@given(items, st.integers(1_000, 400_000), st.integers(1, 2048))
def test_groups_respect_the_caps_keep_order_and_lose_nothing(chunks, budget, max_inputs):
    groups = pack(chunks, budget=budget, max_inputs=max_inputs)
    assert [item for group in groups for item in group] == chunks
    bound = min(budget, 300_000)
    for group in groups:
        fits = sum(i.tokens for i in group) <= bound and sum(i.inputs for i in group) <= max_inputs
        assert fits or len(group) == 1  # only a single oversized item stands alone


def test_the_api_caps_hold_even_with_a_huge_budget():
    many_small = [Item(i, 1, 10) for i in range(5000)]
    assert [len(g) for g in pack(many_small, budget=10**9)] == [2048, 2048, 904]
    big = [Item(i, 1, 8000) for i in range(100)]
    assert max(sum(i.tokens for i in g) for g in pack(big, budget=10**9)) <= 300_000


def test_the_default_group_is_small_but_never_lets_requests_bind_first(settings):
    from project.provider import group_budget

    settings.TOLLGATE_GROUP_TOKENS = 0
    settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = 3_000, 1_000_000  # Tier 1
    assert group_budget() == 10_000  # 1% of TPM: 100 requests fill the window, RPM allows 3,000
    settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = 100, 40_000  # Free tier
    assert group_budget() == 800  # 50 requests fill the window, half the RPM
    settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = 10_000, 100_000_000
    assert group_budget() == 300_000  # the API's cap per request
