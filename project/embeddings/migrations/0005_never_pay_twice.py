"""Never pay twice: the content address of each stored vector, group rows, reuse counters, idempotency keys.

Existing vectors of chunks within the model's input limit are addressed by the chunk's own
``content_hash`` (the exact text sent); longer chunks were sent through a long-input policy
this table does not record, so they keep an empty address and are never reused.
"""

import django.contrib.postgres.fields
import django.db.models.deletion
from django.db import migrations, models

MAX_INPUT_TOKENS = 8191  # the smallest limit in providers/catalog.py: a chunk within it was sent as it is

BACKFILL = f"""
UPDATE embeddings_embedding AS e SET input_hash = c.content_hash
FROM embeddings_chunk AS c WHERE c.id = e.chunk_id AND c.token_count <= {MAX_INPUT_TOKENS}
"""


class Migration(migrations.Migration):
    dependencies = [("embeddings", "0004_index_segments")]

    operations = [
        migrations.AddField(
            model_name="embedding",
            name="input_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="embedding",
            index=models.Index(fields=["input_hash", "model", "dimensions"], name="embedding_content_address"),
        ),
        migrations.AddField(model_name="embeddingjob", name="reused_chunks", field=models.PositiveIntegerField(default=0)),
        migrations.AddField(
            model_name="embeddingjob", name="reused_tokens", field=models.PositiveBigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="embeddingjob",
            name="idempotency_key",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.AddConstraint(
            model_name="embeddingjob",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key", ""), _negated=True),
                fields=("owner", "idempotency_key"),
                name="job_unique_owner_idempotency_key",
            ),
        ),
        migrations.CreateModel(
            name="EmbeddingGroup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("chunk_ids", django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=None)),
                ("tokens", models.PositiveIntegerField(help_text="Tokens sent: each distinct input once.")),
                ("interactive", models.BooleanField(default=False)),
                ("paced", models.BooleanField(default=True)),
                (
                    "state",
                    models.CharField(
                        choices=[("pending", "Pending"), ("claimed", "Claimed"), ("done", "Done"), ("failed", "Failed")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0, help_text="Times claimed.")),
                ("expirations", models.PositiveIntegerField(default=0, help_text="Leases that ran out while claimed.")),
                ("lease_until", models.DateTimeField(blank=True, null=True)),
                ("holder", models.CharField(blank=True, default="", help_text="The claiming task's id.", max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "job",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="groups", to="embeddings.embeddingjob"
                    ),
                ),
            ],
            options={"indexes": [models.Index(fields=["state", "lease_until"], name="group_state_lease")]},
        ),
    ]
