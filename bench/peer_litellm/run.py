"""One run of LiteLLM's Router: several processes of ``worker.py`` in LiteLLM's virtualenv, sharing one Redis."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.peer_litellm.venv import ensure_venv

WORKER = Path(__file__).with_name("worker.py")
_KEPT_ENV = ("PATH", "HOME", "LANG", "TMPDIR")  # nothing else of ours reaches the peer


@dataclass(frozen=True)
class PeerDeployment:
    """One deployment as LiteLLM's Router is told it: limits per minute (its only unit), where, which key."""

    name: str
    api_base: str
    api_key: str
    rpm: int  # per minute
    tpm: int  # per minute
    azure: bool = False


def model_list(deployments: list[PeerDeployment], *, model: str) -> list[dict]:
    rows = []
    for d in deployments:
        params = {"api_base": d.api_base, "api_key": d.api_key, "rpm": d.rpm, "tpm": d.tpm}
        if d.azure:
            params |= {"model": f"azure/{d.name}", "api_version": "2024-10-21"}
        else:
            params |= {"model": f"openai/{model}"}
        rows.append({"model_name": "pool", "litellm_params": params, "model_info": {"id": d.name}})
    return rows


def run_litellm(
    *, deployments: list[PeerDeployment], redis_url: str, texts: list[str], processes: int = 4, concurrency: int = 2,
    group_inputs: int = 20, retries: int = 3, timeout: float = 60.0, model: str = "text-embedding-3-small",
    deadline: float = 3600.0,
) -> dict:  # fmt: skip
    """Embed ``texts`` through the Router in ``processes`` processes sharing ``redis_url``; what each reported."""
    venv = ensure_venv()
    redis = urlsplit(redis_url)
    with tempfile.TemporaryDirectory(prefix="tollgate-litellm-") as folder:
        texts_file = Path(folder) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        config = {
            "model_list": model_list(deployments, model=model), "model_name": "pool",
            "redis": {"host": redis.hostname, "port": redis.port, "password": redis.password},
            "texts": str(texts_file), "processes": processes, "concurrency": concurrency,
            "group_inputs": group_inputs, "retries": retries, "timeout": timeout,
        }  # fmt: skip
        config_file = Path(folder) / "config.json"
        config_file.write_text(json.dumps(config))
        env = {name: value for name, value in __import__("os").environ.items() if name in _KEPT_ENV}
        started = time.monotonic()
        procs = [
            subprocess.Popen([str(venv.python), str(WORKER), str(config_file), str(index)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
            for index in range(processes)
        ]
        reports, failures = [], []
        for proc in procs:
            out, err = proc.communicate(timeout=deadline)
            line = next((text for text in reversed(out.strip().splitlines()) if text.startswith("{")), None)
            if proc.returncode != 0 or line is None:
                failures.append(err.strip().splitlines()[-3:])
            else:
                reports.append(json.loads(line))
        wall = time.monotonic() - started
    errors: Counter[str] = Counter()
    for report in reports:
        errors.update(report["errors"])
    return {
        "litellm_version": venv.version, "install_seconds": venv.install_seconds, "processes": processes,
        "concurrency": concurrency, "retries": retries, "groups": sum(r["groups"] for r in reports),
        "answered": sum(r["answered"] for r in reports), "errors": dict(errors), "wall_seconds": round(wall, 1),
        "failed_processes": failures,
    }  # fmt: skip
