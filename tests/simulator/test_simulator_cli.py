"""The command line: help, the URL line, and a clear exit when tiktoken cannot load."""

from __future__ import annotations

import subprocess
import sys

import pytest

from project.errors import LaunchError
from project.launch import start_simulator
from simulator.__main__ import build_parser, config_from_args


def test_help_reads_well():
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    for flag in ("--tier", "--time-scale", "--api-key", "--latency-ms", "--algorithm", "/admin/config", "/stats"):
        assert flag in result.stdout


def test_flags_override_the_tier():
    config = config_from_args(build_parser().parse_args(["--tier", "Free", "--rpm", "7", "--rpd", "0"]))
    assert (config.rpm, config.tpm, config.rpd, config.tier) == (7, 40_000, None, "free")


def test_missing_tiktoken_file_exits_2_with_one_clear_line(tmp_path):
    with pytest.raises(LaunchError) as caught:
        with start_simulator(env={"TIKTOKEN_CACHE_DIR": str(tmp_path)}):
            pass
    assert "exited with 2" in str(caught.value)
    assert "TIKTOKEN_CACHE_DIR" in str(caught.value)


def test_prints_the_base_url_and_stops_cleanly():
    with start_simulator("--tier", "2") as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/v1")
        assert sim.root_url + "/v1" == sim.base_url
        process = sim.process
    assert process.returncode == 0
