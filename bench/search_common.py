"""The search bench's model, k, goals and ladders: one definition for its run, its backfill and its plot."""

from __future__ import annotations

MODEL, K = "text-embedding-3-small", 10
OTHER_MODEL = "text-embedding-3-large"  # searched beside the backfill; no rows anywhere
RECALL_GOAL, P50_GOAL_MS = 0.95, 20.0
# hnsw.ef_search, up the ladder until recall@10 reaches the goal (and the ladder's middle at
# least): one index's lists, and the shorter ones of several indexes sharing the rows.
EF_LADDER, SHARE_LADDER = (40, 80, 160, 320), (10, 14, 20, 40)
COLLECTION, DOCUMENTS = "one-percent", 100  # chunk i belongs to document i % 100; document 0 is the collection
