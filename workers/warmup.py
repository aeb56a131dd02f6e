"""A worker loads what every group needs before it answers its first ping, not in its first group.

A fresh worker process's first group paid for the model's tokenizer (tiktoken reads its BPE
file), the provider's client and the process's first imports: about a second each for four new
processes on two cores, all inside a short job's first window, whose requests then trickled out
instead of going together. ``tollgate run`` waits for its workers to answer a ping before it
starts the job, and a worker answers only once this has run.
"""

from __future__ import annotations

from celery import signals

from project.provider import warm_up


@signals.worker_ready.connect
def _warm_up(**_: object) -> None:
    warm_up()
