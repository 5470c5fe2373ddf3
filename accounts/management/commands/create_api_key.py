from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import api_key_create
from core.errors import ServiceError
from core.management import DatabaseErrorsExplained


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Create an API key bound to one tenant and print it once (only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="The only tenant the key may act for.")
        parser.add_argument("--name", default="", help="A label for operators, e.g. the client's name.")

    def handle(self, *args: Any, tenant: str, name: str, **options: Any) -> None:
        try:
            issued = api_key_create(tenant=tenant, name=name)
        except ServiceError as exc:
            raise CommandError(str(exc.detail)) from exc
        # The token alone on stdout, so `KEY=$(manage.py create_api_key --tenant t)` works.
        self.stdout.write(issued.token)
        self.stderr.write(
            self.style.SUCCESS(
                f"Created API key {issued.api_key.key_id} for tenant {tenant!r}. "
                "Store it now: it cannot be shown again."
            )
        )
