"""Which models the live index holds: a small partial index, kept only for live rows.

Built concurrently, so a deployment with many live rows keeps writing while it builds.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("embeddings", "0009_unindexed_vectors"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="embedding",
            index=models.Index(condition=models.Q(("segment", 0)), fields=["model"], name="embedding_live_model"),
        ),
    ]
