"""Sign bits of the rows no index covers yet, written by a trigger, so a search scans 192 bytes a row, not 6 KB.

The trigger is statement-level with a transition table: one INSERT … SELECT per statement,
whoever writes the embeddings (COPY's INSERT in store.py, reuse.py's copies). Rows already in
bulk segments that no ready index covers are given their bits here.
"""

from django.db import migrations, models

import project.embeddings.models

FUNCTION = """
CREATE OR REPLACE FUNCTION tollgate_unindexed_vectors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO embeddings_unindexedvector (embedding_id, segment, model, bits)
    SELECT id, segment, model, binary_quantize(vector) FROM added WHERE segment <> 0
    ON CONFLICT (embedding_id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER embedding_unindexed_vectors AFTER INSERT ON embeddings_embedding
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_unindexed_vectors();
"""

EXISTING = """
INSERT INTO embeddings_unindexedvector (embedding_id, segment, model, bits)
SELECT e.id, e.segment, e.model, binary_quantize(e.vector) FROM embeddings_embedding e
WHERE e.segment <> 0 AND NOT EXISTS (
    SELECT 1 FROM embeddings_indexrange r WHERE r.state = 'ready' AND e.segment BETWEEN r.lo AND r.hi
)
"""

REVERSE = """
DROP TRIGGER IF EXISTS embedding_unindexed_vectors ON embeddings_embedding;
DROP FUNCTION IF EXISTS tollgate_unindexed_vectors();
"""


class Migration(migrations.Migration):

    dependencies = [
        ("embeddings", "0008_vector_inline"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnindexedVector",
            fields=[
                ("embedding_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("segment", models.PositiveIntegerField()),
                ("model", models.CharField(max_length=100)),
                ("bits", project.embeddings.models.SignBitsField()),
            ],
            options={
                "indexes": [models.Index(fields=["segment"], name="unindexed_vector_segment")],
            },
        ),
        migrations.RunSQL(FUNCTION, REVERSE),
        migrations.RunSQL(EXISTING, migrations.RunSQL.noop),
    ]
