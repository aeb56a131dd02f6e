"""Split text into token-bounded, overlapping chunks for embedding.

Chunks break at the most natural boundary that fits: between paragraphs (blank lines), else
between sentences, else between tokens. Every chunk holds at most ``chunk_size`` tokens *when
encoded alone*, which is what the embedding API counts. Token counts are not additive across
concatenation, so each unit is encoded once, chunks are packed with a running sum, and only
the final chunk text is encoded again to verify it (and shrunk in the rare case it is over).

Pieces cover the input exactly: the first starts at 0 (leading whitespace included), each
later one starts inside or at the end of the previous one, the last ends at ``len(text)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import tiktoken

__all__ = ["DEFAULT_CHUNK_OVERLAP", "DEFAULT_CHUNK_SIZE", "Piece", "split_text"]

DEFAULT_CHUNK_SIZE = 512  # a few paragraphs: precise for retrieval, far below the 8191-token API limit
DEFAULT_CHUNK_OVERLAP = 64  # about a sentence, so a thought cut at a chunk edge survives in the next chunk

_PARAGRAPH_END = re.compile(r"\n[^\S\n]*\n\s*")
# A sentence ends at its punctuation; the space after it starts the next one, as in " Next",
# where BPE merges the space into the word, so sentence token counts add up almost exactly.
_SENTENCE_END = re.compile(r"[.!?。！？]+(?=\s|$)")
# A text of at most this many characters per token of the chunk size is first encoded whole:
# if it fits it is one piece. Beyond, it almost never fits, and the whole encode would be waste.
_ONE_CHUNK_CHARS = 8


@dataclass(frozen=True)
class Piece:
    """One chunk: ``text == source[start:end]`` and ``token_count == len(encode_ordinary(text))``."""

    text: str
    start: int
    end: int
    token_count: int


@dataclass(frozen=True)
class _Unit:
    """A span of the input that fits in a chunk on its own, with its own token count."""

    start: int
    end: int
    tokens: int


def split_text(
    text: str,
    *,
    encoding: tiktoken.Encoding,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
) -> list[Piece]:
    """Split ``text`` into pieces of at most ``chunk_size`` tokens, repeating up to
    ``chunk_overlap`` tokens of each piece's tail at the start of the next one.

    Units are packed greedily in order, so the sentences of a paragraph too big for a chunk
    may share one with the paragraphs around it. The overlap starts at a token boundary that
    is also a character boundary; it is shortened, down to nothing, when the next paragraph or
    sentence would not fit after it, because whole units matter more than a repeated tail.

    Whitespace-only text gives no pieces. A whitespace-only piece can still appear in the
    middle of a text whose whitespace runs are longer than ``chunk_size`` tokens.

    Raises ``ValueError`` for sizes out of range, or when ``chunk_size`` is below the tokens of
    a single character of ``text`` (up to 4, for a character cl100k only knows as bytes).

    Example::

        >>> enc = encoding_for_model("text-embedding-3-small")
        >>> [p.text for p in split_text("One.\\n\\nTwo.", encoding=enc, chunk_size=3, chunk_overlap=0)]
        ['One.\\n\\n', 'Two.']
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1 token, got {chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError(f"chunk_overlap must be in [0, chunk_size={chunk_size}), got {chunk_overlap}")
    if not text.strip():
        return []
    if len(text) <= _ONE_CHUNK_CHARS * chunk_size:  # most short texts: one encode, one piece
        count = len(encoding.encode_ordinary(text))
        if count <= chunk_size:
            return [Piece(text, 0, len(text), count)]
    levels = (_PARAGRAPH_END, _SENTENCE_END)
    units = list(_units(text, 0, len(text), encoding, chunk_size, chunk_size - chunk_overlap, levels))
    return _pack(text, units, encoding, chunk_size, chunk_overlap)


def _tile(text: str, start: int, end: int, boundary: re.Pattern[str]) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` after each match of ``boundary``; the spans cover it exactly."""
    cuts = [start, *(m.end() for m in boundary.finditer(text, start, end)), end]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]


def _units(
    text: str,
    start: int,
    end: int,
    encoding: tiktoken.Encoding,
    limit: int,
    body: int,
    levels: Sequence[re.Pattern[str]],
) -> Iterator[_Unit]:
    """Spans at the coarsest level that fit in ``limit`` tokens; too-big ones go one level finer.

    A paragraph or sentence that fits is kept whole even if the overlap must shrink for it; the
    parts of a hard split are ``body`` tokens, so the overlap fits before them."""
    for a, b in _tile(text, start, end, levels[0]):
        tokens = encoding.encode_ordinary(text[a:b])  # not _batch: its thread pool costs more per span
        if len(tokens) <= limit:
            yield _Unit(a, b, len(tokens))
        elif len(levels) > 1:
            yield from _units(text, a, b, encoding, limit, body, levels[1:])
        else:
            yield from _hard_split(text, a, b, tokens, encoding, limit, body)


def _token_cuts(
    text: str, tokens: list[int], encoding: tiktoken.Encoding, first: int = 0
) -> list[tuple[int, int]]:
    """``(token index, character offset)`` of each token boundary that is also a character
    boundary: a token may end inside a multi-byte character (Korean, emoji), never cut there.

    Only the boundaries from token ``first`` on are returned (an overlap needs only the tail's):
    the tail's bytes end the text's, so the head's tokens are never decoded."""
    data = text.encode()
    tail = encoding.decode_tokens_bytes(tokens[first:])
    byte = len(data) - sum(map(len, tail))
    last_byte = byte
    while last_byte < len(data) and data[last_byte] & 0xC0 == 0x80:  # the tail starts inside a character
        last_byte -= 1
    char = len(data[:last_byte].decode())
    cuts = [(first, char)] if last_byte == byte else []
    for index, token_bytes in enumerate(tail, first + 1):
        byte += len(token_bytes)
        if byte == len(data) or data[byte] & 0xC0 != 0x80:  # not a UTF-8 continuation byte
            char += len(data[last_byte:byte].decode())
            last_byte = byte
            cuts.append((index, char))
    return cuts


def _hard_split(
    text: str, start: int, end: int, tokens: list[int], encoding: tiktoken.Encoding, limit: int, body: int
) -> Iterator[_Unit]:
    """Cut a sentence too big for a chunk between tokens, each part as long as fits."""
    cuts = _token_cuts(text[start:end], tokens, encoding)
    i, pos = 0, start  # cuts[i] is the last cut at or before pos
    while pos < end:
        j = i + 1
        while j + 1 < len(cuts) and cuts[j + 1][0] - cuts[i][0] <= body:
            j += 1
        part_end, count = _fit_end(text, pos, [start + c for _, c in cuts[i + 1 : j + 1]], encoding, body)
        if count > limit:
            part = text[pos:part_end]
            raise ValueError(f"chunk_size={limit} is too small: {part!r} alone is {count} tokens")
        yield _Unit(pos, part_end, count)
        pos = part_end
        while i + 1 < len(cuts) and start + cuts[i + 1][1] <= pos:
            i += 1


def _fit_end(
    text: str, begin: int, ends: list[int], encoding: tiktoken.Encoding, limit: int
) -> tuple[int, int]:
    """The furthest of ``ends`` whose part re-encodes within ``limit`` (a cut can change the
    tokens around it), else the longest prefix of characters before ``ends[0]`` that does, or
    else one character, the least a part can hold."""
    for end in reversed(ends):
        count = len(encoding.encode_ordinary(text[begin:end]))
        if count <= limit:
            return end, count
    end, count = begin + 1, len(encoding.encode_ordinary(text[begin]))
    while end + 1 < ends[0]:
        longer = len(encoding.encode_ordinary(text[begin : end + 1]))
        if longer > limit:
            break
        end, count = end + 1, longer
    return end, count


def _pack(text: str, units: list[_Unit], encoding: tiktoken.Encoding, size: int, overlap: int) -> list[Piece]:
    """Greedily fill chunks with whole units, each chunk starting with the previous one's tail."""
    pieces: list[Piece] = []
    starts = [(0, 0)]  # where the next chunk may start, with the overlap tokens that adds; most first
    i = 0
    while i < len(units):
        piece, tokens, i = _next_piece(text, units, i, starts, encoding, size)
        pieces.append(piece)
        tail = _token_cuts(piece.text, tokens, encoding, first=max(len(tokens) - overlap, 0))
        starts = [(piece.start + c, len(tokens) - k) for k, c in tail]
        starts = [(s, n) for s, n in starts if s > piece.start and n <= overlap]
    return pieces


def _next_piece(
    text: str,
    units: list[_Unit],
    i: int,
    starts: list[tuple[int, int]],
    encoding: tiktoken.Encoding,
    size: int,
) -> tuple[Piece, list[int], int]:
    """The chunk starting with unit ``i``, its tokens, and the index of the first unit left out.

    The overlap is shortened only when the first unit would not fit after it; the last start
    carries no overlap and a unit always fits alone, so the shrinking loop ends."""
    o = 0
    while starts[o][1] + units[i].tokens > size:
        o += 1
    j, total = i + 1, starts[o][1] + units[i].tokens
    while j < len(units) and total + units[j].tokens <= size:
        total += units[j].tokens
        j += 1
    while True:
        start, end = starts[o][0], units[j - 1].end
        tokens = encoding.encode_ordinary(text[start:end])
        if len(tokens) <= size:
            return Piece(text[start:end], start, end, len(tokens)), tokens, j
        if j > i + 1:
            j -= 1
        else:
            o += 1
