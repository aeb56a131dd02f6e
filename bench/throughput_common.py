"""The throughput bench's limits, goals and time-outs: one definition for its run, its configurations and its report."""

from __future__ import annotations

RPM, TPM = 3_000, 1_000_000  # Tier 1, text-embedding-3-*
TIER5_RPM, TIER5_TPM = 10_000, 10_000_000  # the account whose rate Tier 1 at time scale 10 stands for
GOAL = 0.95  # steady utilization at the model's 1,536 dimensions (issue 12; 0.97 was the goal at 256)
SEARCHABLE_GOAL = 1.2  # time to searchable (job start → every vector indexed) over tokens ÷ the limit's rate
BOOT_TIMEOUT = 240.0  # seconds for a pool of workers to answer a ping (32 of them boot slowly on 2 cores)
RUN_TIMEOUT = 600  # seconds before a configuration is abandoned
