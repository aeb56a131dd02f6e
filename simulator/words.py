"""Words of a text for the semantic vectors: lowercase ASCII word tokens, lightly stemmed.

Tokenizing works on the UTF-8 bytes with one ``translate`` and one ``split`` (about three
times faster than a regular expression), so ASCII punctuation separates words and other
bytes stay inside them. Each distinct word is stemmed and hashed once and then cached,
because a corpus repeats its words (Zipf): per occurrence the cost is one dict lookup.
"""

from __future__ import annotations

import hashlib

__all__ = ["word_ids", "stem", "STOPWORDS"]

CACHE_WORDS = 500_000  # distinct words remembered; past this the cache starts again
_SEPARATORS = bytes(c for c in range(128) if not chr(c).isalnum())
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
# One pass lowercases ASCII letters and turns ASCII punctuation and spaces into spaces.
_TABLE = bytes.maketrans(_SEPARATORS + _UPPER, b" " * len(_SEPARATORS) + _UPPER.lower())

# Very common English words carry little meaning: their features get a small weight (idf-like).
STOPWORDS: frozenset[bytes] = frozenset(
    w.encode()
    for w in """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves one also may might must
    shall us s t
    """.split()
)


class _WordIds(dict[bytes, bytes]):
    """word -> 8-byte id of its stem; a miss stems and hashes, a hit stays in C."""

    def __missing__(self, word: bytes) -> bytes:
        if len(self) >= CACHE_WORDS:
            self.clear()
        digest = bytearray(hashlib.blake2b(stem(word), digest_size=8).digest())
        digest[0] = (digest[0] & 0xFE) | (word in STOPWORDS)  # the lowest bit says "stopword"
        self[word] = ident = bytes(digest)
        return ident


_ids = _WordIds()


def stem(word: bytes) -> bytes:
    """A deliberately light stemmer: plural 's'/'ies', 'ing', 'ed', then a final 'e'.

    Enough to make "share", "shares", "shared" and "sharing" one word (``shar``) and
    "limits" match "limit"; crude on purpose, since it runs on every new word.
    """
    suffix = b""
    if len(word) > 5 and word.endswith(b"ies"):
        word = word[:-3] + b"y"
    elif len(word) > 5 and word.endswith(b"ing"):
        word, suffix = word[:-3], b"ing"
    elif len(word) > 4 and word.endswith(b"ed"):
        word, suffix = word[:-2], b"ed"
    elif len(word) > 3 and word.endswith(b"s") and not word.endswith((b"ss", b"us", b"is")):
        word = word[:-1]
    if suffix and len(word) > 2 and word[-1] == word[-2] and word[-1:] not in (b"l", b"s", b"z"):
        word = word[:-1]  # running -> run, stopped -> stop
    if len(word) > 3 and word.endswith(b"e"):
        word = word[:-1]
    return word


def word_ids(content: bytes) -> bytes:
    """The ids of ``content``'s words in order, as little-endian uint64s packed in one bytes.

    Packed because numpy reads that in one ``frombuffer`` (converting 400 Python ints costs
    more than all the hashing); the same stem always gives the same id.
    """
    return b"".join(map(_ids.__getitem__, content.translate(_TABLE).split()))
