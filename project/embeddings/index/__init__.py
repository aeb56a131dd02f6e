"""Stage 5, index: bulk mode, so PostgreSQL is never the ceiling while a backfill loads.

``segments.py`` says where a job's rows go and when a segment closes; ``builder.py`` builds each
closed segment's HNSW index and merges them; ``cover.py`` tells a search which indexes and
segments to read so every row is found exactly once, from the moment it is stored.
"""
