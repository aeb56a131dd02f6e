"""docker-compose.yml, checked without a Docker engine: the Compose Specification's JSON schema,
and every tollgate service's command naming an entry point that really exists."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import get_commands

from project.embedded.postgres import bundled_major_version

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
TOLLGATE_SERVICES = {name: s for name, s in COMPOSE["services"].items() if s.get("image", "").startswith("tollgate")}


def test_compose_file_is_valid_against_the_compose_specification():
    if not SCHEMA.exists():
        pytest.skip(f"the Compose Specification schema is not at {SCHEMA}")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def entry_point_exists(command: list[str]) -> bool:
    """Does this command start something tollgate really has?"""
    program, *args = command
    if program == "celery":
        assert args[:2] == ["-A", "workers"], command
        app = importlib.import_module("workers").app
        subcommand = args[2]
        if subcommand == "flower":
            return importlib.util.find_spec("flower") is not None
        return subcommand in {"worker", "beat"} and app.main == "tollgate"
    if program == "python" and args[0] == "manage.py":
        return (ROOT / "manage.py").exists() and args[1] in get_commands()
    if program == "python" and args[0] == "-m":
        return importlib.util.find_spec(f"{args[1]}.__main__") is not None
    if program == "uvicorn":
        module, attribute = args[0].split(":")
        return callable(getattr(importlib.import_module(module), attribute, None))
    if program == "tollgate":
        from project.cli import build_parser

        return args[0] in build_parser()._subparsers._group_actions[0].choices
    return False


@pytest.mark.parametrize("name", sorted(TOLLGATE_SERVICES))
def test_every_tollgate_service_runs_a_real_entry_point(name):
    assert entry_point_exists(TOLLGATE_SERVICES[name]["command"]), TOLLGATE_SERVICES[name]["command"]


def test_the_fleet_has_its_parts_and_workers_can_scale():
    assert {"db", "redis", "web", "worker", "flower", "simulator"} <= COMPOSE["services"].keys()
    assert COMPOSE["services"]["db"]["image"].startswith("pgvector/pgvector:")
    assert COMPOSE["services"]["redis"]["image"].startswith("redis:7")
    assert COMPOSE["services"]["simulator"]["profiles"] == ["simulator"]
    worker = COMPOSE["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker  # --scale worker=8 needs both absent
    for name, service in COMPOSE["services"].items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in COMPOSE["services"], (name, dependency)
            assert condition["condition"] in {"service_healthy", "service_completed_successfully"}
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in COMPOSE["services"][dependency], dependency


def test_the_db_image_is_the_embedded_major_version_with_its_volume_where_that_image_keeps_data():
    db = COMPOSE["services"]["db"]
    tag = db["image"].split(":", 1)[1]
    assert re.fullmatch(rf"(\d+\.\d+\.\d+-)?pg{bundled_major_version()}(-[a-z]+)?", tag), db["image"]
    # From PostgreSQL 18 on, the image's data lives below /var/lib/postgresql/<major>/ and a volume
    # at the old /var/lib/postgresql/data makes it refuse to start.
    assert [volume.split(":")[1] for volume in db["volumes"]] == ["/var/lib/postgresql"]


def test_no_secret_is_baked_in_and_every_variable_is_documented():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"(ENV|ARG)\s+\S*(KEY|PASSWORD|SECRET)", dockerfile)
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert referenced <= documented
    assert "sk-" not in example
