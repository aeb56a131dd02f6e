"""Loaded into deployment tests' workers with ``--include tests.deploy.probe``: asks a worker its clock.

``app.control.broadcast("deploy_clock", reply=True)`` answers ``{hostname: {"time": time.time()}}``
read inside the worker process, so a test sees the clock that process really has (libfaketime).
"""

from __future__ import annotations

import time

from celery.worker.control import control_command


@control_command()
def deploy_clock(state) -> dict[str, float]:
    return {"time": time.time()}
