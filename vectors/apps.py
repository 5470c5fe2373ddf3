from django.apps import AppConfig


class VectorsConfig(AppConfig):
    name = "vectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from vectors import (
            metrics,  # noqa: F401  (exported from the first scrape, before any use)
            signals,  # noqa: F401  (connects the receivers that index after commit)
        )
