from django.contrib import admin
from django.urls import path

from soma_project.api import api
from soma_project.metrics import metrics_view

handler400 = "soma_project.errors.json_400"
handler403 = "soma_project.errors.json_403"
handler404 = "soma_project.errors.json_404"
handler500 = "soma_project.errors.json_500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", api.urls),
]
