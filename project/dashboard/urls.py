from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/jobs", views.jobs, name="jobs"),
    path("dashboard/limits", views.limits, name="limits"),
    path("dashboard/failures", views.failures, name="failures"),
    path("dashboard/search", views.search, name="search"),
    path("dashboard/upload", views.upload, name="upload"),
    path("dashboard/jobs/<int:pk>/<str:action>", views.job_action, name="job-action"),
]
