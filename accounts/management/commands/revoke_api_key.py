from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import api_key_get
from accounts.services import api_key_revoke
from core.errors import ServiceError
from core.management import DatabaseErrorsExplained


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Revoke API keys by key id (the part after sfm_, as list_api_keys shows it); requests with them get 401 at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "key_ids",
            nargs="+",
            metavar="KEY_ID",
            help="A key id, or the whole token sfm_<key id>_<secret> (only its id is read).",
        )

    def handle(self, *args: Any, key_ids: list[str], **options: Any) -> None:
        failed = []
        for given in key_ids:
            key_id = _key_id(given)
            try:
                api_key = api_key_get(key_id=key_id)
            except ServiceError as exc:
                self.stderr.write(str(exc.detail))
                failed.append(key_id)
                continue
            already = api_key.revoked_at is not None
            api_key_revoke(api_key=api_key)
            state = "already revoked" if already else "revoked"
            self.stdout.write(f"{state} {api_key.key_id} (tenant {api_key.tenant!r})")
        if failed:
            raise CommandError(f"{len(failed)} of {len(key_ids)} key id(s) not found: {', '.join(failed)}")
        self.stdout.write(self.style.SUCCESS(f"Revoked {len(key_ids)} API key(s)."))


def _key_id(given: str) -> str:
    """The key id of a token pasted whole (sfm_<key id>_<secret>), else what was given."""
    prefix, _, rest = given.partition("_")
    return rest.split("_", 1)[0] if prefix == "sfm" and "_" in rest else given
