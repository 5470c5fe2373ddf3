from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.selectors import api_key_list
from core.management import DatabaseErrorsExplained


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "List API keys (never their secrets)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default=None, help="Only this tenant's keys.")
        parser.add_argument("--all", action="store_true", dest="include_revoked", help="Include revoked keys.")

    def handle(self, *args: Any, tenant: str | None, include_revoked: bool, **options: Any) -> None:
        keys = api_key_list(tenant=tenant, include_revoked=include_revoked)
        self.stdout.write(f"{'KEY_ID':<16}  {'TENANT':<20}  {'NAME':<24}  {'CREATED':<25}  {'LAST_USED':<25}  REVOKED")
        for key in keys:
            self.stdout.write(
                f"{key.key_id:<16}  {key.tenant:<20}  {key.name[:24]:<24}  {_when(key.created_at):<25}  "
                f"{_when(key.last_used_at):<25}  {_when(key.revoked_at)}"
            )
        self.stdout.write(self.style.SUCCESS(f"{len(keys)} key(s)."))
