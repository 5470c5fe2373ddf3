"""Django's `createsuperuser`, with AUTH_PASSWORD_VALIDATORS enforced in both of its modes.

Django's own command checks the validators when it prompts, then offers to create the user with
the refused password anyway; with --noinput it takes DJANGO_SUPERUSER_PASSWORD unchecked. A
console account guards every tenant's memories, so here a refused password is refused: the
prompt asks again, and --noinput stops with the validators' messages.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser as django_createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from core.management import DatabaseErrorsExplained

_BYPASS_PROMPT = "Bypass password validation"


class Command(DatabaseErrorsExplained, django_createsuperuser.Command):
    help = django_createsuperuser.Command.help + " The password must pass AUTH_PASSWORD_VALIDATORS."

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["interactive"]:
            self._check_environment_password(options)
            super().handle(*args, **options)
            return
        # Django asks its bypass question with the builtin input() looked up in its module's
        # globals: a module global of that name answers it "no" (and passes every other prompt on).
        django_createsuperuser.input = self._input_without_bypass  # type: ignore[attr-defined]
        try:
            super().handle(*args, **options)
        finally:
            del django_createsuperuser.input  # type: ignore[attr-defined]

    def _input_without_bypass(self, prompt: str = "") -> str:
        if prompt.startswith(_BYPASS_PROMPT):
            self.stderr.write("This password is refused; choose another.")
            return "n"
        return builtins.input(prompt)

    def _check_environment_password(self, options: dict[str, Any]) -> None:
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if password is None:
            return  # no password: Django creates the user with an unusable one
        user_model = get_user_model()
        fields = {}
        for name in (user_model.USERNAME_FIELD, *user_model.REQUIRED_FIELDS):
            value = options.get(name) or os.environ.get(f"DJANGO_SUPERUSER_{name.upper()}")
            if value:
                fields[name] = value
        try:
            validate_password(password, user_model(**fields))
        except ValidationError as exc:
            raise CommandError("DJANGO_SUPERUSER_PASSWORD is refused: " + " ".join(exc.messages)) from exc
