from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import views

app_name = "api"

urlpatterns = [
    path("documents", views.DocumentsView.as_view(), name="documents"),
    path("jobs", views.JobListView.as_view(), name="job-list"),
    path("jobs/<int:pk>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:pk>/failures", views.JobFailuresView.as_view(), name="job-failures"),
    path("jobs/<int:pk>/pause", views.JobPauseView.as_view(), name="job-pause"),
    path("jobs/<int:pk>/resume", views.JobResumeView.as_view(), name="job-resume"),
    path("jobs/<int:pk>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("search", views.SearchView.as_view(), name="search"),
    path("limits", views.LimitsView.as_view(), name="limits"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[], authentication_classes=[]), name="schema"),
]
