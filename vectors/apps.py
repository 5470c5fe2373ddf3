from django.apps import AppConfig


class VectorsConfig(AppConfig):
    name = "vectors"
    default_auto_field = "django.db.models.BigAutoField"
