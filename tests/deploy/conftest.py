"""Deployment rehearsals: services and workers as separate processes (and hosts), started by hand."""

from __future__ import annotations

from tests.deploy.hosts import procs  # noqa: F401  (the fixture)
