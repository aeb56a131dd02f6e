"""Every document and job gets an owner; documents are deduplicated per owner.

Rows from before belong to the system user (``TOLLGATE_SYSTEM_USER``, created here if needed),
as everything the command line ingests does.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import project.embeddings.owners


def give_to_the_system_user(apps, schema_editor):
    """Existing rows get the system user, created with an unusable password (API tokens only)."""
    Document = apps.get_model("embeddings", "Document")
    EmbeddingJob = apps.get_model("embeddings", "EmbeddingJob")
    if not Document.objects.exists() and not EmbeddingJob.objects.exists():
        return
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    owner, _ = User.objects.get_or_create(username=settings.TOLLGATE_SYSTEM_USER, defaults={"password": "!"})
    Document.objects.filter(owner__isnull=True).update(owner=owner)
    EmbeddingJob.objects.filter(owner__isnull=True).update(owner=owner)


class Migration(migrations.Migration):
    dependencies = [
        ("embeddings", "0002_job_progressed_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="owner",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="documents", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="embeddingjob",
            name="owner",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="embedding_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(give_to_the_system_user, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="document",
            name="owner",
            field=models.ForeignKey(
                default=project.embeddings.owners.system_owner_id,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="documents",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="embeddingjob",
            name="owner",
            field=models.ForeignKey(
                default=project.embeddings.owners.system_owner_id,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="embedding_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RemoveConstraint(model_name="document", name="document_unique_content"),
        migrations.AddConstraint(
            model_name="document",
            constraint=models.UniqueConstraint(
                fields=("owner", "collection", "content_hash"), name="document_unique_owner_content"
            ),
        ),
    ]
