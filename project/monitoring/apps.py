from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "project.monitoring"
    label = "monitoring"
    verbose_name = "Monitoring"
