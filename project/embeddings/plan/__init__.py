"""Stage 2, plan: a job's pending chunks become request groups, each distinct input once.

``enqueue.py`` reuses what is stored, packs the rest into groups and records the job's totals
(a whole job, or a streaming ingest's batch as it commits); ``preflight.py`` checks what would
make every paid response unstorable before the first call; ``estimate.py`` is a dry run's
estimate; ``sweep.py`` is what the sweep does to jobs.
"""
