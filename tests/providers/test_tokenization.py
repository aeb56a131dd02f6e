"""Offline tiktoken: the model's own encoding, from the bundled file, with no network at all."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

from providers.tokenization import UnknownModelError, count_tokens, encoding_for_model

NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}


def test_models_keep_the_encoding_tiktoken_assigns():
    for model in ("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"):
        assert encoding_for_model(model).name == tiktoken.encoding_name_for_model(model) == "cl100k_base"


def test_known_token_counts():
    assert encoding_for_model("text-embedding-3-small").encode_ordinary("hello world") == [15339, 1917]
    assert count_tokens(["hello world", "<|endoftext|>"], "text-embedding-3-small") == [2, 7]


def test_works_from_an_empty_cache_without_network(tmp_path: Path):
    code = (
        "from providers.tokenization import encoding_for_model;"
        "print(len(encoding_for_model('text-embedding-3-small').encode_ordinary('안녕하세요 😀')))"
    )
    env = {**os.environ, **NO_NETWORK, "TIKTOKEN_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 0
    # tiktoken's own cache names: the sha1 of cl100k_base's and o200k_base's URLs
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
        "fb374d419588a4632f3f557e76b4b70aebbca790",
    ]


@pytest.mark.parametrize("model", ["no-such-model", "text-davinci-003"])
def test_unknown_or_not_offline_model_is_a_clear_error(model: str):
    with pytest.raises(UnknownModelError, match=model):
        encoding_for_model(model)


def test_chat_models_use_the_bundled_o200k_base():
    assert encoding_for_model("gpt-4o-mini").name == tiktoken.encoding_name_for_model("gpt-4o-mini") == "o200k_base"
