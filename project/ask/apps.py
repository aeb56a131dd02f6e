from django.apps import AppConfig


class AskConfig(AppConfig):
    name = "project.ask"
    label = "ask"
    verbose_name = "Ask"
