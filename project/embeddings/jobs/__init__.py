"""Jobs: what a user asked to embed, its lifecycle, counters, progress and cost.

``lifecycle.py`` creates, starts, resumes, pauses and cancels jobs (what commands and views
call); ``submit.py`` is the web app's all-or-nothing submission; ``status.py`` the status
changes workers make (pause, complete); ``counters.py`` moves counters and fails chunks;
``ingesting.py`` ends a streaming ingest; ``selectors.py``, ``progress.py`` and ``cost.py`` read.
"""
