from django.contrib import admin
from django.urls import path
from django_prometheus.exports import ExportToDjangoView

from soma_project.api import api

handler400 = "soma_project.errors.json_400"
handler403 = "soma_project.errors.json_403"
handler404 = "soma_project.errors.json_404"
handler500 = "soma_project.errors.json_500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", ExportToDjangoView, name="prometheus-django-metrics"),
    path("", api.urls),
]
