"""What the benches sample while a run goes on: one sampling thread, and the readings of processes it takes.

:class:`Sampler` is the one periodic sampler of bench/; each bench gives it a probe of its own:

- ``bench/memory.py``: the job's chunks done, the producer's and every worker's RSS (:func:`rss_mb`), each second;
- ``bench/throughput.py``: what tollgate's limiter believes its window holds beside what the
  simulator admitted (``throughput_measure.limiter_probe``), each half second;
- ``bench/batch.py``: the tokens the simulator holds enqueued beside ours not yet submitted,
  each quarter second.

The machine's CPU over a whole run needs no thread: :class:`CpuMeter` reads it when a run
starts and when it ends (the throughput bench's ``machine_cpu_busy`` and ``children_cpu_seconds``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
from django.db import connections


class Sampler:
    """Calls ``probe`` every ``period`` seconds in a thread of its own while the ``with`` block runs.

    A thread, so the sampling goes on while the block waits on the run (``watch_job``, say).

    Parameters
    ----------
    probe:
        Called with the seconds since the block began; returns the sample to keep, or None to
        keep nothing this time (a reading that timed out, say).
    period:
        Seconds from one probe's end to the next probe.
    at_start:
        Probe once as the block begins; by default the first probe comes a period in.

    ``samples`` holds what was kept, in order. When the block ends the thread stops and closes
    the database connections its probe opened (Django opens one per thread).

    Example::

        producer = psutil.Process()
        with Sampler(lambda seconds: (seconds, rss_mb(producer)), period=1.0) as sampler:
            run_the_job()
        peak_mb = max(mb for _, mb in sampler.samples)
    """

    def __init__(self, probe: Callable[[float], Any], *, period: float, at_start: bool = False):
        self.probe, self.period, self.at_start = probe, period, at_start
        self.samples: list = []
        self.started = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            if not self.at_start and self._stop.wait(self.period):
                return
            while not self._stop.is_set():
                sample = self.probe(time.monotonic() - self.started)
                if sample is not None:
                    self.samples.append(sample)
                self._stop.wait(self.period)
        finally:
            connections.close_all()  # this thread's own


def rss_mb(process: psutil.Process) -> float:
    """Resident set of ``process`` and its children, in MB (a gone process counts 0)."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


class CpuMeter:
    """The machine's CPU busy share and our children's CPU seconds, from its creation to :meth:`result`.

    The busy share is of every core and every process on the machine (``/proc/stat``), so a
    run's figure includes what else the machine did meanwhile; the children's seconds are the
    processes this one started and waited for (``os.times``).
    """

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float]:
        with open("/proc/stat") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]
        times = os.times()
        return sum(fields) - idle, sum(fields), times.children_user + times.children_system

    def result(self) -> dict:
        busy0, total0, children0 = self._start
        busy1, total1, children1 = self._read()
        return {
            "machine_cpu_busy": round((busy1 - busy0) / max(total1 - total0, 1e-9), 3),
            "children_cpu_seconds": round(children1 - children0, 2),
        }
