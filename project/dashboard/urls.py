from django.urls import path

from . import ask, job_page, panels, search, sources, upload, views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/jobs", views.jobs, name="jobs"),
    path("dashboard/limits", views.limits, name="limits"),
    path("dashboard/failures", views.failures, name="failures"),
    path("dashboard/search", search.search, name="search"),
    path("dashboard/ask", ask.ask, name="ask"),
    path("dashboard/upload", upload.upload, name="upload"),
    path("dashboard/jobs/<int:pk>/live", job_page.job_live, name="job-live"),
    path("dashboard/jobs/<int:pk>/failures", job_page.job_failures, name="job-failures"),
    path("dashboard/jobs/<int:pk>/<str:action>", views.job_action, name="job-action"),
    path("jobs/<int:pk>/", job_page.job_page, name="job"),
    path("dashboard/charts/limits", panels.limits_chart, name="limits-chart"),
    path("dashboard/charts/progress", panels.progress, name="progress-chart"),
    path("dashboard/workers", panels.workers, name="workers"),
    path("dashboard/sources", sources.sources, name="sources"),
]
