from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The curators' Django admin over memories, their vectors and their links."""

    name = "console"
    verbose_name = "Curator console"
    default_auto_field = "django.db.models.BigAutoField"
