"""Which of a deployment's answers its circuit breaker counts, and how (the state is ``ratelimit.Breaker``'s).

- a served request closes it (``ok``);
- 5xx, a timeout, a dropped connection (:class:`~providers.errors.Transient`) count one failure in
  a row (``fail``): a few in a row open it, and one probe later closes it again or not;
- a refusal of the credentials (401/403), an unknown model or deployment (404), or no quota
  (:class:`~providers.errors.AccountBlocked`) takes it out at once (``block``), with the reason;
- a 429 is the limiter's business (a cooldown), and a 400 the input's: neither says anything
  about the deployment's health, so neither moves the breaker.

Example::

    outcome = breaker_outcome(passage)
    if outcome:
        member.breaker.report(outcome, reason=str(passage.error or ""))
"""

from __future__ import annotations

from .errors import AccountBlocked, Transient
from .gate import Passage

__all__ = ["breaker_outcome"]


def breaker_outcome(passage: Passage) -> str | None:
    """``"ok"``, ``"fail"``, ``"block"``, or None when the passage says nothing about the deployment."""
    if passage.result is not None:
        return "ok"
    if isinstance(passage.error, Transient):
        return "fail"
    if isinstance(passage.error, AccountBlocked):
        return "block"
    return None
