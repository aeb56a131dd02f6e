"""The pool file: several API keys, OpenAI projects or Azure deployments named as one pool.

``TOLLGATE_DEPLOYMENTS`` names a TOML file of ``[[deployments]]`` tables, read once by the
settings (this module imports neither Django's models nor the openai SDK, so reading it costs
the settings nothing). The file never holds a key: ``api_key_env`` names the environment
variable that does, which the caller passes in (``environ``). Every mistake is one
:class:`PoolFileError` naming the file and the line, raised at start, before anything is sent.
``project/provider.py`` turns the specs into a :class:`providers.pool.Pool`.

Example (``pool.toml``)::

    [[deployments]]
    name = "east"
    kind = "azure"
    base_url = "https://tollgate-east.openai.azure.com"
    deployment = "embed-small"
    api_version = "2024-10-21"
    api_key_env = "AZURE_EAST_KEY"
    model = "text-embedding-3-small"
    rpm = 6000
    tpm = 1000000

    specs = read_deployments(Path("pool.toml"), environ=os.environ, dimensions=1536)
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from project.errors import TollgateError

__all__ = ["DeploymentSpec", "PoolFileError", "pool_settings", "read_deployments"]

KINDS = ("openai", "azure")
REQUIRED = ("name", "base_url", "api_key_env", "model", "rpm", "tpm")
AZURE_REQUIRED = ("api_version", "deployment")
OPTIONAL = ("kind", "api_version", "deployment", "weight", "priority", "dimensions", "window_seconds", "rpd")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_HEADER = re.compile(r"^\s*\[\[\s*deployments\s*\]\]")
_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


class PoolFileError(TollgateError, ImproperlyConfigured):
    """The pool file cannot be used as it is; the message names the file and the line."""

    field = "TOLLGATE_DEPLOYMENTS"


@dataclass(frozen=True)
class DeploymentSpec:
    """One ``[[deployments]]`` table as read: plain values (the key itself hidden from ``repr``).

    ``priority``: lower is tried first; a higher number takes work only when every lower one
    would keep it waiting. ``weight``: among deployments of one priority, the share of first tries.
    """

    name: str
    kind: str
    base_url: str
    api_key_env: str
    api_key: str = field(repr=False)
    model: str = ""
    dimensions: int = 0
    rpm: int = 0
    tpm: int = 0
    window_seconds: float = 60.0
    rpd: int | None = None
    weight: float = 1.0
    priority: int = 0
    api_version: str = ""
    deployment: str = ""

    @property
    def endpoint(self) -> tuple[str, str]:
        """What names the account with the key: the URL (and an Azure deployment, which has its own limit)."""
        return self.base_url.rstrip("/").lower(), self.deployment


def read_deployments(
    path: Path,
    *,
    environ: Mapping[str, str],
    dimensions: int,
    window_seconds: float = 60.0,
) -> tuple[DeploymentSpec, ...]:
    """The deployments of the pool file at ``path``; raises :class:`PoolFileError` naming the line.

    ``dimensions`` and ``window_seconds`` are the defaults a table may override (the window only
    to rehearse on a time-scaled simulator).
    Refused: a missing or unknown field, a key variable that is unset, two deployments of one
    name or of one account (same key and endpoint: the provider keeps one limit for both), and
    deployments of different models or dimensions (their vectors could not be compared).
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise PoolFileError(f"TOLLGATE_DEPLOYMENTS={path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PoolFileError(f"{path}: not valid TOML: {exc}") from None
    lines = _Lines(path, text)
    tables = data.get("deployments")
    unknown_top = sorted(set(data) - {"deployments"})
    if unknown_top:
        raise PoolFileError(f"{lines.where(None, unknown_top[0])}: unknown setting {unknown_top[0]!r}; "
                            "the file holds [[deployments]] tables only")  # fmt: skip
    if not isinstance(tables, list) or not tables:
        raise PoolFileError(f"{path}: no [[deployments]] table: name at least one deployment")
    defaults = {"dimensions": dimensions, "window_seconds": window_seconds}
    deployments = [_deployment(index, table, lines, environ, defaults) for index, table in enumerate(tables)]
    _check_pool(deployments, lines)
    return tuple(deployments)


class _Lines:
    """Where each table and key of the file is, so an error can name the line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.tables: list[dict[str, int]] = []
        self.top: dict[str, int] = {}
        current: dict[str, int] | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if _HEADER.match(line):
                current = {"": number}
                self.tables.append(current)
            elif _TABLE.match(line):
                current = None
            elif (key := _KEY.match(line)) is not None:
                (current if current is not None else self.top).setdefault(key.group(1), number)

    def where(self, index: int | None, key: str = "") -> str:
        if index is None:
            return f"{self.path} line {self.top.get(key, 1)}"
        table = self.tables[index] if index < len(self.tables) else {"": 1}
        return f"{self.path} line {table.get(key, table[''])}"


def _deployment(
    index: int, table: Any, lines: _Lines, environ: Mapping[str, str], defaults: dict[str, Any]
) -> DeploymentSpec:
    def fail(key: str, message: str) -> PoolFileError:
        name = table.get("name") if isinstance(table, dict) and isinstance(table.get("name"), str) else None
        who = f"deployment {name!r}" if name else f"deployment {index + 1}"
        return PoolFileError(f"{lines.where(index, key)}: {who}: {message}")

    if not isinstance(table, dict):
        raise fail("", "each deployment is a [[deployments]] table")
    unknown = sorted(set(table) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise fail(unknown[0], f"unknown field {unknown[0]!r} (fields: {', '.join(REQUIRED + OPTIONAL)})")
    kind = table.get("kind", "openai")
    if kind not in KINDS:
        raise fail("kind", f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    for key in REQUIRED + (AZURE_REQUIRED if kind == "azure" else ()):
        if key not in table:
            raise fail("", f"missing field {key!r}" + (" (an Azure deployment needs it)" if key in AZURE_REQUIRED else ""))

    def text(key: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"{key} must be a non-empty string")
        return value.strip()

    def whole(key: str, default: int | None = None, *, least: int = 1) -> int:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise fail(key, f"{key} must be an integer of at least {least}, not {value!r}")
        return value

    def number(key: str, default: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise fail(key, f"{key} must be a positive number, not {value!r}")
        return float(value)

    name = text("name")
    if not _NAME.fullmatch(name):
        raise fail("name", f"name must be 1-40 letters, digits, '.', '_' or '-', not {name!r}")
    base_url, model, variable = text("base_url"), text("model"), text("api_key_env")
    if not base_url.startswith(("http://", "https://")):
        raise fail("base_url", f"base_url must start with http:// or https://, not {base_url!r}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise fail("api_key_env", f"api_key_env names an environment variable (like AZURE_EAST_KEY), not {variable!r}")
    key = environ.get(variable, "")
    if not key:
        raise fail("api_key_env", f"the environment variable {variable} (its api_key_env) is not set")
    window = number("window_seconds", defaults["window_seconds"])
    rpd = whole("rpd") if "rpd" in table else None
    azure = kind == "azure"
    return DeploymentSpec(
        name=name, kind=kind, base_url=base_url, api_key_env=variable, api_key=key, model=model,
        dimensions=whole("dimensions", defaults["dimensions"]), rpm=whole("rpm"), tpm=whole("tpm"),
        window_seconds=window, rpd=rpd, weight=number("weight", 1.0), priority=whole("priority", 0, least=0),
        api_version=text("api_version") if azure else "", deployment=text("deployment") if azure else "",
    )  # fmt: skip


def _check_pool(deployments: list[DeploymentSpec], lines: _Lines) -> None:
    first = deployments[0]
    seen: dict[str, int] = {}
    accounts: dict[tuple[str, str, str], str] = {}
    for index, deployment in enumerate(deployments):
        where = lines.where(index, "name")
        if deployment.name in seen:
            raise PoolFileError(f"{where}: deployment {deployment.name!r} is named twice (also line "
                                f"{lines.tables[seen[deployment.name]]['name']})")  # fmt: skip
        seen[deployment.name] = index
        if (deployment.model, deployment.dimensions) != (first.model, first.dimensions):
            raise PoolFileError(
                f"{lines.where(index, 'model')}: deployment {deployment.name!r} embeds with {deployment.model} "
                f"at {deployment.dimensions} dimensions but {first.name!r} with {first.model} at "
                f"{first.dimensions}: a pool's vectors must be one model's to be compared, so only "
                "deployments of the same model and dimensions pool together"
            )
        account = (*deployment.endpoint, deployment.api_key)
        if account in accounts:
            raise PoolFileError(
                f"{where}: deployments {accounts[account]!r} and {deployment.name!r} are one account (the same key "
                "and endpoint): the provider keeps one limit for both, so list it once"
            )
        accounts[account] = deployment.name


def pool_settings(specs: tuple[DeploymentSpec, ...], *, model: str, window_seconds: float) -> tuple[str, int, int, int]:
    """(model, dimensions, RPM, TPM) of the pool: its one model, and the sum of its rates per ``window_seconds``.

    ``model`` is ``TOLLGATE_MODEL`` as set (or ""): another model than the pool's is refused.
    """
    first = specs[0]
    if model and model != first.model:
        raise PoolFileError(f"TOLLGATE_MODEL is {model} but the pool's deployments embed with {first.model}: "
                            "unset TOLLGATE_MODEL (the pool names the model)")  # fmt: skip
    rpm = round(sum(spec.rpm / spec.window_seconds for spec in specs) * window_seconds)
    tpm = round(sum(spec.tpm / spec.window_seconds for spec in specs) * window_seconds)
    return first.model, first.dimensions, max(1, rpm), max(1, tpm)
