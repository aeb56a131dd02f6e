from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "project.dashboard"
    label = "dashboard"
