"""Keep each vector in its row (STORAGE PLAIN) when it fits in a page: no TOAST table on the write path.

The column's own type and size are read from the catalog (they were fixed by the first migrate,
whatever the settings say now). Rows stored before keep their TOAST copy until rewritten;
reads are correct either way. Larger vectors (above about 1,960 float32 or 3,920 half-precision
dimensions) keep pgvector's default, out-of-line storage.
"""

from django.db import migrations

from project.embeddings.models import vector_inline

COLUMN = """
    SELECT t.typname, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = 'embeddings_embedding'::regclass AND a.attname = 'vector'
"""


def inline(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(COLUMN)
        kind, dimensions = cursor.fetchone()
        if dimensions > 0 and vector_inline(kind, dimensions):
            cursor.execute("ALTER TABLE embeddings_embedding ALTER COLUMN vector SET STORAGE PLAIN")


def default(apps, schema_editor):
    schema_editor.execute("ALTER TABLE embeddings_embedding ALTER COLUMN vector SET STORAGE DEFAULT")


class Migration(migrations.Migration):

    dependencies = [
        ("embeddings", "0007_batch_lane"),
    ]

    operations = [migrations.RunPython(inline, default)]
