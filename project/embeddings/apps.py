from django.apps import AppConfig


class EmbeddingsConfig(AppConfig):
    name = "project.embeddings"
    label = "embeddings"
    verbose_name = "Embeddings"
