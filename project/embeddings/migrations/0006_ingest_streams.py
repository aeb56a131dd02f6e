from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("embeddings", "0005_never_pay_twice"),
    ]

    operations = [
        migrations.AddField(
            model_name="embeddingjob",
            name="ingesting",
            field=models.BooleanField(
                default=False, help_text="Its ingest is still adding chunks (and totals): it cannot complete yet."
            ),
        ),
    ]
