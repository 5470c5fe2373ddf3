from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "API access"
    default_auto_field = "django.db.models.BigAutoField"
