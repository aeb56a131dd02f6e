"""The splitter's guarantees, checked on the real cl100k_base encoding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.splitter import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, Piece, _token_cuts, split_text
from providers.tokenization import encoding_for_model

ENCODING = encoding_for_model("text-embedding-3-small")

# Fragments that stress tokenization: multi-byte characters whose tokens end mid-character,
# ZWJ sequences, flags, combining marks, special-token text, and every kind of boundary.
FRAGMENTS = [
    "안녕하세요.",
    " 반갑습니다.",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "🇰🇷🇯🇵",
    "e\u0301",
    "<|endoftext|>",
    "<|fim_prefix|>",
    "日本語です。",
    "本当！",
    "Hello world",
    " the quick brown fox",
    ". ",
    "? ",
    "!",
    " ",
    "\n",
    "\n\n",
    "\r\n\r\n",
    "\t",
]

texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=80).map("".join),
)


@st.composite
def sizes(draw: st.DrawFn) -> tuple[int, int]:
    # 4 tokens hold any single character (at most 4 UTF-8 bytes), so every text can be split.
    chunk_size = draw(st.integers(min_value=4, max_value=48))
    return chunk_size, draw(st.integers(min_value=0, max_value=chunk_size - 1))


def split(text: str, chunk_size: int, chunk_overlap: int) -> list[Piece]:
    pieces = split_text(text, encoding=ENCODING, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    check_pieces(text, pieces, chunk_size)
    return pieces


def check_pieces(text: str, pieces: list[Piece], chunk_size: int) -> None:
    """Token bound, exact offsets, full coverage in order, no invented characters."""
    if not text.strip():
        assert pieces == []
        return
    assert pieces[0].start == 0
    assert pieces[-1].end == len(text)
    for piece in pieces:
        assert text[piece.start : piece.end] == piece.text
        assert len(ENCODING.encode_ordinary(piece.text)) == piece.token_count <= chunk_size
        assert "\ufffd" not in piece.text or "\ufffd" in text
    for before, after in zip(pieces, pieces[1:]):
        assert before.start < after.start <= before.end < after.end


@settings(max_examples=300, deadline=None)
@given(text=texts, size=sizes())
def test_pieces_fit_and_cover_the_text(text: str, size: tuple[int, int]) -> None:
    split(text, *size)


@settings(max_examples=100, deadline=None)
@given(text=texts, chunk_size=st.integers(min_value=4, max_value=48))
def test_no_overlap_means_pieces_abut(text: str, chunk_size: int) -> None:
    pieces = split(text, chunk_size, 0)
    assert "".join(piece.text for piece in pieces) == (text if text.strip() else "")


@settings(max_examples=200, deadline=None)
@given(text=texts, data=st.data())
def test_the_tail_s_cuts_are_the_whole_text_s_cuts_from_there_on(text: str, data: st.DataObject) -> None:
    tokens = ENCODING.encode_ordinary(text)
    first = data.draw(st.integers(min_value=0, max_value=len(tokens)))
    whole = _token_cuts(text, tokens, ENCODING)
    assert _token_cuts(text, tokens, ENCODING, first=first) == [cut for cut in whole if cut[0] >= first]


def test_a_text_that_fits_is_one_piece_even_when_its_paragraphs_count_more_apart() -> None:
    text = "One.\n\nTwo.\n\nThree."
    apart = sum(len(ENCODING.encode_ordinary(part)) for part in ("One.\n\n", "Two.\n\n", "Three."))
    whole = len(ENCODING.encode_ordinary(text))
    assert split(text, whole, 0) == [Piece(text, 0, len(text), whole)] and whole <= apart


@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet=" \t\r\n\u3000\xa0", max_size=50))
def test_whitespace_only_text_has_no_pieces(text: str) -> None:
    assert split_text(text, encoding=ENCODING) == []


@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet="abc .!\n", min_size=1, max_size=100), chunk_overlap=st.integers(0, 1))
def test_ascii_splits_down_to_single_tokens(text: str, chunk_overlap: int) -> None:
    split(text, chunk_overlap + 1, chunk_overlap)


@pytest.mark.parametrize(
    ("chunk_size", "chunk_overlap", "message"),
    [(0, 0, "chunk_size"), (-5, 0, "chunk_size"), (10, 10, "chunk_overlap"), (10, -1, "chunk_overlap")],
)
def test_invalid_sizes_are_refused(chunk_size: int, chunk_overlap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_text("some text", encoding=ENCODING, chunk_size=chunk_size, chunk_overlap=chunk_overlap)


def test_a_character_wider_than_the_chunk_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_text("🦄", encoding=ENCODING, chunk_size=1, chunk_overlap=0)


def test_defaults() -> None:
    assert 0 <= DEFAULT_CHUNK_OVERLAP < DEFAULT_CHUNK_SIZE


def test_short_paragraphs_share_one_chunk() -> None:
    text = "First paragraph here.\n\nSecond paragraph there."
    assert [piece.text for piece in split(text, 50, 0)] == [text]


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = [f"Paragraph {n} says something short." for n in range(6)]
    text = "\n\n".join(paragraphs)
    pieces = split(text, 20, 0)
    assert len(pieces) > 1
    assert all(piece.text.rstrip().endswith("short.") for piece in pieces)


def test_long_paragraph_splits_at_sentence_ends() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(40))
    pieces = split(text, 30, 0)
    assert len(pieces) > 1
    assert all(piece.text.endswith("is here.") for piece in pieces)


def test_korean_sentences_split_at_their_ends() -> None:
    text = "안녕하세요. 반갑습니다."
    assert [piece.text for piece in split(text, 6, 0)] == ["안녕하세요.", " 반갑습니다."]


def test_special_token_text_is_ordinary_text() -> None:
    text = "before <|endoftext|> after " * 20
    pieces = split(text, 16, 4)
    assert sum(piece.text.count("<|endoftext|>") for piece in pieces) >= 20


def test_overlap_repeats_the_previous_tail() -> None:
    text = " ".join(f"word{n}" for n in range(2000))
    pieces = split(text, 100, 20)
    for before, after in zip(pieces, pieces[1:]):
        shared = text[after.start : before.end]
        assert 0 < len(ENCODING.encode_ordinary(shared)) <= 20
        assert after.text.startswith(shared)


def test_emoji_without_spaces_is_cut_between_characters() -> None:
    text = "👨‍👩‍👧‍👦🇰🇷🏳️‍🌈" * 200
    pieces = split(text, 7, 3)
    assert len(pieces) > 100


def test_a_200k_token_text_is_split_with_default_sizes() -> None:
    rng = random.Random(0)
    words = "the of and to in is was for on that with as by at from it be this an which".split()
    paragraphs = []
    for _ in range(2500):
        sentences = [" ".join(rng.choices(words, k=rng.randint(3, 30))) for _ in range(rng.randint(1, 12))]
        paragraphs.append(". ".join(sentences) + ".")
    text = "\n\n".join(paragraphs)
    total = len(ENCODING.encode_ordinary(text))
    assert total > 200_000
    pieces = split(text, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)
    body = DEFAULT_CHUNK_SIZE - DEFAULT_CHUNK_OVERLAP
    assert total / DEFAULT_CHUNK_SIZE < len(pieces) < 1.5 * total / body
