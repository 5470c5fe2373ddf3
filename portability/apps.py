from django.apps import AppConfig


class PortabilityConfig(AppConfig):
    """Export and import of memories and links (JSON Lines): backups, migrations between servers."""

    name = "portability"
    default_auto_field = "django.db.models.BigAutoField"
