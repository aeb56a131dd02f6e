"""What a deployment must not run with: public secrets and silent fall-backs.

Pure functions over values settings have already read, so ``project/settings.py`` (which
must only read) and ``tollgate up`` ask the same questions and refuse with the same words.
A refusal names the variable to set; nothing here reads the environment itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = [
    "DEVELOPMENT_SECRET_KEY",
    "PLACEHOLDER_PREFIX",
    "flower_auth_problem",
    "is_loopback",
    "is_placeholder",
    "missing_urls",
    "placeholder_passwords",
    "secret_key_problem",
    "url_without_password",
]

# Known to everyone who reads this file: good for a laptop, never for a site others can reach.
DEVELOPMENT_SECRET_KEY = "tollgate-local-development-only"
# Every secret in .env.example starts with this, so a copied file is refused until it is filled in.
PLACEHOLDER_PREFIX = "change-me"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name, an address, ``[::1]``, or ``.localhost`` domain) stays on this machine."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_placeholder(value: str) -> bool:
    """A value copied from .env.example without being changed."""
    return value.strip().lower().startswith(PLACEHOLDER_PREFIX)


def secret_key_problem(secret_key: str, *, debug: bool, hosts: Iterable[str], deployed: bool = False) -> str | None:
    """Why ``secret_key`` must not sign this site's sessions and tokens, or None when it may.

    The development key and .env.example's placeholder are public: anyone could forge a session
    with them. They are accepted only while the site answers on loopback alone (or with DEBUG,
    which is itself never for a public site), and never in a deployment (``TOLLGATE_REQUIRE_URLS``).
    """
    public = secret_key == DEVELOPMENT_SECRET_KEY or is_placeholder(secret_key) or not secret_key
    if not public or debug:
        return None
    reachable = [host for host in hosts if not is_loopback(host)]
    if not reachable and not deployed:
        return None
    where = f"the site answers on {', '.join(reachable)}" if reachable else "TOLLGATE_REQUIRE_URLS is set"
    return (
        f"DJANGO_SECRET_KEY is the public development key or .env.example's placeholder, and {where}: set "
        "DJANGO_SECRET_KEY to a long random string, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`"
    )


def flower_auth_problem(basic_auth: str, *, address: str) -> str | None:
    """Why Flower must not listen on ``address`` with ``basic_auth`` ("user:password"), or None.

    Flower shows every task's arguments and can shut workers down: beyond loopback it needs real
    credentials, and .env.example's placeholder is not one.
    """
    pairs = [pair for pair in basic_auth.split(",") if pair]
    malformed = [pair for pair in pairs if ":" not in pair or not pair.split(":", 1)[0] or not pair.split(":", 1)[1]]
    if malformed:
        return "FLOWER_BASIC_AUTH must be user:password (comma-separated for several users)"
    if any(is_placeholder(pair.split(":", 1)[1]) for pair in pairs):
        return "FLOWER_BASIC_AUTH still has .env.example's placeholder password: set a real one"
    if not pairs and not is_loopback(address):
        return (
            f"Flower would listen on {address} without authentication: set FLOWER_BASIC_AUTH=user:password, "
            "or let it listen on 127.0.0.1"
        )
    return None


def missing_urls(environ: Mapping[str, str], names: Iterable[str] = ("DATABASE_URL", "REDIS_URL")) -> list[str]:
    """The service URLs that are unset or empty: in a container, those would be embedded servers."""
    return [name for name in names if not environ.get(name, "").strip()]


def placeholder_passwords(environ: Mapping[str, str], names: Iterable[str] = ("DATABASE_URL", "REDIS_URL")) -> list[str]:
    """The URLs whose password is still .env.example's placeholder."""
    return [name for name in names if is_placeholder(urlsplit(environ.get(name, "")).password or "")]


def url_without_password(url: str) -> str:
    """``url`` with its password replaced by ``***``, for printing where a person or a log can read it."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
