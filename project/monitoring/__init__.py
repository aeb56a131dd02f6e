"""Watching tollgate run: job progress over time, the limiter's history, workers, queues, metrics.

Reads only (selectors), plus the one table the database itself fills (:class:`JobSample`).
The dashboard, ``/metrics`` and ``tollgate status`` are faces over these functions.
"""
