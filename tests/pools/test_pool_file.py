"""The pool file (TOLLGATE_DEPLOYMENTS): every mistake is one error naming the file and the line, before any call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from project.pool_file import PoolFileError, pool_settings, read_deployments

ROOT = Path(__file__).resolve().parents[2]
ENV = {"EAST_KEY": "key-east", "WEST_KEY": "key-west"}

EAST = """[[deployments]]
name = "east"
kind = "azure"
base_url = "https://east.openai.azure.com"
deployment = "embed-small"
api_version = "2024-10-21"
api_key_env = "EAST_KEY"
model = "text-embedding-3-small"
rpm = 6000
tpm = 1000000
"""
WEST = """
[[deployments]]
name = "west"
base_url = "https://api.openai.com/v1"
api_key_env = "WEST_KEY"
model = "text-embedding-3-small"
rpm = 3000
tpm = 500000
window_seconds = 30
priority = 1
"""


def read(tmp_path: Path, text: str, environ: dict[str, str] = ENV):
    path = tmp_path / "pool.toml"
    path.write_text(text)
    return read_deployments(path, environ=environ, dimensions=1536)


def error(tmp_path: Path, text: str, environ: dict[str, str] = ENV) -> str:
    with pytest.raises(PoolFileError) as caught:
        read(tmp_path, text, environ)
    return str(caught.value)


def test_a_good_file_reads_every_deployment_and_the_pool_is_their_sum(tmp_path):
    east, west = read(tmp_path, EAST + WEST)
    assert (east.name, east.kind, east.deployment, east.api_key, east.rpm, east.tpm) == (
        "east", "azure", "embed-small", "key-east", 6000, 1_000_000,
    )  # fmt: skip
    assert (west.kind, west.window_seconds, west.priority, west.weight) == ("openai", 30.0, 1, 1.0)
    assert "key-west" not in repr(west)  # the key never shows
    # west's 500,000 per 30 s is 1,000,000 per minute: the pool admits 2,000,000 tokens a minute
    assert pool_settings((east, west), model="", window_seconds=60.0) == ("text-embedding-3-small", 1536, 12000, 2_000_000)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (EAST.replace("rpm = 6000", "rpm = 6000\nrpm = 7"), "pool.toml: not valid TOML: Cannot overwrite a value (at line 10"),
        (EAST.replace("tpm = 1000000", "tpm = -5"), "pool.toml line 10: deployment 'east': tpm must be an integer of at least 1, not -5"),
        (EAST + WEST.replace('api_key_env = "WEST_KEY"\n', ""), "pool.toml line 12: deployment 'west': missing field 'api_key_env'"),
        (EAST.replace('deployment = "embed-small"\n', ""), "pool.toml line 1: deployment 'east': missing field 'deployment' (an Azure deployment needs it)"),
        (EAST.replace("rpm = 6000", "rpm = 6000\nregion = 'eu'"), "pool.toml line 10: deployment 'east': unknown field 'region'"),
        (EAST.replace('kind = "azure"', 'kind = "bedrock"'), "pool.toml line 3: deployment 'east': kind must be one of openai, azure"),
        (EAST.replace('"EAST_KEY"', '"sk-live-123"'), "pool.toml line 7: deployment 'east': api_key_env names an environment variable"),
        (EAST + WEST.replace('"WEST_KEY"', '"NORTH_KEY"'), "pool.toml line 15: deployment 'west': the environment variable NORTH_KEY (its api_key_env) is not set"),
        (EAST + EAST.replace('"EAST_KEY"', '"WEST_KEY"'), "pool.toml line 12: deployment 'east' is named twice (also line 2)"),
        (EAST + EAST.replace('"east"', '"east-again"'), "pool.toml line 12: deployments 'east' and 'east-again' are one account"),
        ("title = 'x'\n" + EAST, "pool.toml line 1: unknown setting 'title'"),
        ("", "pool.toml: no [[deployments]] table"),
    ],
    ids=["toml", "negative", "missing", "azure-needs", "unknown", "kind", "a key in the file", "unset", "twice", "same account", "top", "empty"],
)
def test_a_bad_file_is_one_error_naming_the_line(tmp_path, text, says):
    assert says in error(tmp_path, text)


def test_deployments_of_different_models_or_dimensions_are_refused_with_the_reason(tmp_path):
    mixed = EAST + WEST.replace("text-embedding-3-small", "text-embedding-3-large")
    assert error(tmp_path, mixed) == (
        f"{tmp_path / 'pool.toml'} line 16: deployment 'west' embeds with text-embedding-3-large at 1536 dimensions "
        "but 'east' with text-embedding-3-small at 1536: a pool's vectors must be one model's to be compared, so "
        "only deployments of the same model and dimensions pool together"
    )
    shorter = EAST + WEST.replace("priority = 1", "dimensions = 512")
    assert "'west' embeds with text-embedding-3-small at 512 dimensions" in error(tmp_path, shorter)


def test_another_model_than_the_pools_is_refused(tmp_path):
    with pytest.raises(PoolFileError, match="TOLLGATE_MODEL is text-embedding-3-large but the pool's deployments"):
        pool_settings(read(tmp_path, EAST), model="text-embedding-3-large", window_seconds=60.0)


def test_a_command_given_a_bad_file_says_so_in_one_line(tmp_path):
    (tmp_path / "pool.toml").write_text(EAST.replace("tpm = 1000000", "tpm = 'many'"))
    environment = {**os.environ, **ENV, "TOLLGATE_DEPLOYMENTS": str(tmp_path / "pool.toml")}
    result = subprocess.run(
        [sys.executable, "-m", "project.cli", "status", "--json"], cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"tollgate: {tmp_path / 'pool.toml'} line 10: deployment 'east': tpm must be an integer of at least 1, not 'many'"
    ]
