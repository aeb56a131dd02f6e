"""A chat answer through the gate: admitted on prompt + max_tokens, reconciled with usage, 429s shared.

The chat model has a limit of its own (the same account, another model's keys). The simulator
counts a chat request as OpenAI does when it admits one, its prompt plus ``max_tokens``, and
reports the answer's real usage; the server's /stats and the limiter's Redis state are the judges.
"""

from __future__ import annotations

import pytest

from providers import AnswerRefused, ContextTooLong, ProviderConfig, chat_open, chat_prompt_tokens, pass_gate
from ratelimit import Limiter, Limits
from tests.providers.rig import WINDOW, GateRig

CHAT = "gpt-4o-mini"
MAX_TOKENS = 200
MESSAGES = [
    {"role": "system", "content": "Answer from the numbered sources only; cite them as [n]."},
    {"role": "user", "content": "Sources:\n\n[1] gate.txt\nThe toll gate admits every request against one shared limit. "
     "A cooldown after a 429 makes every worker wait.\n\n[2] road.txt\nCars drive on the road.\n\n"
     "Question: what does the toll gate admit requests against?"},
]  # fmt: skip


def chat_limiter(rig: GateRig, *, requests: int = 100, tokens: int = 10_000) -> Limiter:
    limits = Limits(requests=requests, tokens=tokens, window_seconds=WINDOW)
    return Limiter(rig.redis, account=rig.config.account(), model=CHAT, limits=limits)


def through_gate(rig: GateRig, limiter: Limiter, messages=MESSAGES, max_tokens: int = MAX_TOKENS):
    config = ProviderConfig(model=CHAT, dimensions=0, api_key=rig.config.api_key, base_url=rig.config.base_url, timeout=10)
    prompt = chat_prompt_tokens(messages, CHAT)
    call = lambda: chat_open(rig.client, config, messages=messages, max_tokens=max_tokens, prompt_tokens=prompt)  # noqa: E731
    return pass_gate(limiter=limiter, tokens=prompt + max_tokens, pace=False, call=call), prompt


def test_a_chat_answer_is_admitted_on_prompt_and_max_tokens_then_reconciled_with_its_usage(rig: GateRig) -> None:
    limiter, embeddings = chat_limiter(rig), rig.limiter(requests=100, tokens=10_000)
    passage, prompt = through_gate(rig, limiter)

    assert passage.error is None and passage.result is not None
    assert (limiter.usage().requests_used, limiter.usage().tokens_used) == (1, prompt + MAX_TOKENS)
    assert embeddings.usage().tokens_used == 0  # a window of its own: the chat model's
    server = rig.stats()
    assert server["tokens_admitted"] == prompt + MAX_TOKENS  # the server counted what we admitted
    answer = "".join(passage.result)
    assert "[1]" in answer and "shared limit" in answer
    stream = passage.result
    assert stream.usage_reported and stream.prompt_tokens == prompt  # our count is the server's
    assert stream.finish_reason == "stop" and 0 < stream.completion_tokens < MAX_TOKENS

    assert passage.settle() is True
    assert limiter.usage().tokens_used == prompt + stream.completion_tokens  # what the answer really took
    totals = limiter.history().totals
    assert totals.tokens_returned == MAX_TOKENS - stream.completion_tokens


def test_a_429_for_chat_cools_every_caller_of_the_chat_model_down(rig: GateRig) -> None:
    rig.serve(chat_rpm=1, chat_tpm=200_000)
    rig.client.chat.completions.create(model=CHAT, messages=MESSAGES, max_tokens=5)  # another deployment's request
    limiter = chat_limiter(rig)

    passage, _ = through_gate(rig, limiter)

    assert passage.rate_limited and passage.result is None and passage.retry_after > 0
    assert limiter.usage().cooldown_seconds > 0  # shared through Redis
    assert not chat_limiter(rig).acquire(10).admitted  # the cooldown, and the server's RPM it taught us
    assert rig.stats()["rate_limited"]["requests"] == 1


def test_a_prompt_over_the_context_is_context_too_long(rig: GateRig) -> None:
    rig.serve(chat_context_tokens=150)
    passage, _ = through_gate(rig, chat_limiter(rig))
    assert isinstance(passage.error, ContextTooLong) and "maximum context length is 150" in str(passage.error)


@pytest.mark.parametrize(("knob", "reason"), [("chat_refusal", "refusal"), ("chat_content_filter", "content_filter")])
def test_a_refusal_or_the_content_filter_ends_the_answer_with_answer_refused(rig: GateRig, knob: str, reason: str) -> None:
    rig.serve(**{knob: True})
    limiter = chat_limiter(rig)
    passage, prompt = through_gate(rig, limiter)
    stream = passage.result
    with pytest.raises(AnswerRefused) as refused:
        list(stream)
    assert refused.value.reason == reason and refused.value.field == "question"
    passage.settle()  # billed all the same: the limiter learns the usage
    assert limiter.usage().tokens_used == prompt + stream.completion_tokens
