"""text-embedding-3-large's 3,072 dimensions: stored as halfvec, indexed by HNSW, searched through it.

The column's type and size are fixed when the table is first migrated, so this runs a fresh
database of its own, migrated by a process whose settings ask for 3,072 dimensions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest

PROBE = r"""
import json
import numpy as np
import django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
from project.embeddings.models import Chunk, Document, Embedding, Segment, UnindexedVector, vector_indexes, vector_type
from project.embeddings.search.chunks import chunk_search
from project.embeddings.search.nearest import nearest_embeddings
from project.embeddings.store.copy import vectors_store

call_command("migrate", verbosity=0)
with connection.cursor() as cursor:
    cursor.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                   "WHERE attrelid = 'embeddings_embedding'::regclass AND attname = 'vector'")
    (column,) = cursor.fetchone()
document = Document.objects.create(collection="large", content_hash="large", text="x")
chunks = Chunk.objects.bulk_create(
    Chunk(document=document, seq=i, text=str(i), start=0, token_count=1, content_hash=str(i)) for i in range(ROWS)
)
rng = np.random.default_rng(3)
values = rng.standard_normal((ROWS, 3072)).astype(np.float32)
values /= np.linalg.norm(values, axis=1, keepdims=True)
with connection.schema_editor() as editor:
    for index in vector_indexes():
        editor.remove_index(Embedding, index)
with transaction.atomic():
    stored = vectors_store(model="large", dimensions=3072, vectors={c.pk: v for c, v in zip(chunks, values)})
with connection.schema_editor() as editor:
    for index in vector_indexes():
        editor.add_index(Embedding, index)
with connection.cursor() as cursor:
    cursor.execute("ANALYZE")
plan = nearest_embeddings(vector=values[5], model="large", viewer=None, k=5).explain()
hits = chunk_search(vector=values[5], model="large", viewer=None, k=5)
# A backfill's rows in a bulk segment: the trigger keeps their sign bits, and a search finds them.
segment = Segment.objects.create()
more = Chunk.objects.bulk_create(
    Chunk(document=document, seq=ROWS + i, text="b", start=0, token_count=1, content_hash=f"b{i}") for i in range(40)
)
with transaction.atomic():
    vectors_store(model="large", dimensions=3072, vectors={c.pk: v for c, v in zip(more, values[:40] * -1)},
                  segment=segment.pk)
bulk_hit = chunk_search(vector=-values[7], model="large", viewer=None, k=5)[0].chunk.seq
print(json.dumps({"type": vector_type(), "column": column, "stored": stored, "plan": plan,
                  "first": hits[0].chunk.seq, "similarity": hits[0].similarity,
                  "bits": UnindexedVector.objects.filter(segment=segment.pk).count(), "bulk_first": bulk_hit}))
"""


@pytest.fixture
def fresh_database(database_url: str):
    name = f"tollgate_halfvec_{uuid.uuid4().hex[:8]}"
    base = database_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_3072_dimensions_are_halfvec_with_an_hnsw_index_that_search_uses(fresh_database: str, redis_url: str):
    env = {**os.environ, "DATABASE_URL": fresh_database, "REDIS_URL": redis_url, "TOLLGATE_DIMENSIONS": "3072",
           "DJANGO_SETTINGS_MODULE": "project.settings"}
    env.pop("TOLLGATE_VECTOR_TYPE", None)
    result = subprocess.run([sys.executable, "-c", "ROWS = 3000\n" + PROBE], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["type"] == "halfvec" and found["column"] == "halfvec(3072)" and found["stored"] == 3000
    assert "Index Scan using embedding_vector_hnsw" in found["plan"], found["plan"][:400]
    assert found["first"] == 5 and found["similarity"] > 0.999  # its own vector, at half precision
    assert found["bits"] == 40 and found["bulk_first"] == 3000 + 7  # halfvec rows in a bulk segment have sign bits too
