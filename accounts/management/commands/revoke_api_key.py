from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import api_key_get
from accounts.services import api_key_revoke
from core.errors import ServiceError
from core.management import DatabaseErrorsExplained


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Revoke API keys by key id (the part after sfm_); requests with them get 401 at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key_ids", nargs="+", metavar="KEY_ID")

    def handle(self, *args: Any, key_ids: list[str], **options: Any) -> None:
        failed = []
        for key_id in key_ids:
            try:
                api_key = api_key_get(key_id=key_id)
            except ServiceError as exc:
                self.stderr.write(str(exc.detail))
                failed.append(key_id)
                continue
            api_key_revoke(api_key=api_key)
            self.stdout.write(f"revoked {api_key.key_id} (tenant {api_key.tenant!r})")
        if failed:
            raise CommandError(f"{len(failed)} of {len(key_ids)} key id(s) not found: {', '.join(failed)}")
        self.stdout.write(self.style.SUCCESS(f"Revoked {len(key_ids)} API key(s)."))
