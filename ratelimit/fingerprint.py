"""Name a provider account without storing its API key."""

from __future__ import annotations

import hashlib

__all__ = ["fingerprint"]

FINGERPRINT_LENGTH = 16  # hex digits: 64 bits, plenty to tell accounts apart, useless to recover a key


def fingerprint(api_key: str, base_url: str) -> str:
    """A short, non-reversible id of (API key, endpoint), to key the limiter by account.

    The endpoint is part of it because a key means a different account on another server; a
    trailing slash or letter case in the URL does not matter.

    Example::

        fingerprint("sk-...", "https://api.openai.com/v1")  # '3f9c0a...' (16 hex digits)
    """
    endpoint = base_url.strip().rstrip("/").lower()
    digest = hashlib.sha256(f"tollgate-ratelimit\0{endpoint}\0{api_key}".encode()).hexdigest()
    return digest[:FINGERPRINT_LENGTH]
