from django.urls import path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

app_name = "api"

# The schema and its documentation are public, like this page: they say how to call, not what anyone stored.
PUBLIC = {"permission_classes": [], "authentication_classes": []}

urlpatterns = [
    path("", TemplateView.as_view(template_name="api/index.html"), name="index"),
    path("documents", views.DocumentsView.as_view(), name="documents"),
    path("jobs", views.JobListView.as_view(), name="job-list"),
    path("jobs/<int:pk>", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<int:pk>/failures", views.JobFailuresView.as_view(), name="job-failures"),
    path("jobs/<int:pk>/pause", views.JobPauseView.as_view(), name="job-pause"),
    path("jobs/<int:pk>/resume", views.JobResumeView.as_view(), name="job-resume"),
    path("jobs/<int:pk>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("search", views.SearchView.as_view(), name="search"),
    path("ask", views.AskView.as_view(), name="ask"),
    path("limits", views.LimitsView.as_view(), name="limits"),
    path("schema/", SpectacularAPIView.as_view(**PUBLIC), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema", **PUBLIC), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema", **PUBLIC), name="redoc"),
]
