"""A sliding-window rate limiter shared through Redis by every process that calls one provider.

Requests and tokens per window (and optionally requests per day) for one (account, model),
checked together in one atomic Lua call with Redis's clock; cooldown after a 429; calibration
from the server's ``x-ratelimit-*`` headers; a per-bucket history of all of it for charts; and
the Batch API's enqueued-token queue (:class:`BatchQueue`), shared the same way. Redis may be one
server or a Sentinel-managed master the limiter follows through a failover (:class:`SentinelUrl`).
Imports redis-py and the standard library only.
"""

from .breaker import Breaker, BreakerPolicy, BreakerState
from .errors import LimiterUnavailable, NeverFits, RateLimitError
from .fingerprint import fingerprint
from .headers import ServerLimits, parse_duration, parse_rate_limit_headers
from .history import Bucket, History, Totals, WindowPoint
from .keys import KEY_PREFIX
from .limiter import Limiter
from .limits import Decision, Limits, Usage
from .queue import BatchQueue, QueueDecision, QueueUsage
from .sentinel import SentinelUrl, is_sentinel_url

__all__ = [
    "KEY_PREFIX",
    "BatchQueue",
    "Breaker",
    "BreakerPolicy",
    "BreakerState",
    "Bucket",
    "Decision",
    "History",
    "Limiter",
    "LimiterUnavailable",
    "Limits",
    "NeverFits",
    "QueueDecision",
    "QueueUsage",
    "RateLimitError",
    "SentinelUrl",
    "ServerLimits",
    "Totals",
    "Usage",
    "WindowPoint",
    "fingerprint",
    "is_sentinel_url",
    "parse_duration",
    "parse_rate_limit_headers",
]
