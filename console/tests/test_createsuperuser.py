"""`createsuperuser` (console's override of Django's): the password validators, with no bypass."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

STRONG = "Lantern-harbour-4471"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1A", "This password is too short"),
        ("password123", "This password is too common"),
        ("83719264051", "This password is entirely numeric"),
        ("keeper-of-the-light", "The password is too similar to the username"),
    ],
)
def test_noinput_refuses_a_password_the_validators_refuse(monkeypatch, password, message):
    # Given a weak DJANGO_SUPERUSER_PASSWORD
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    # When createsuperuser runs without prompting / Then it stops, naming why, and creates nobody
    with pytest.raises(CommandError, match=f"DJANGO_SUPERUSER_PASSWORD is refused: .*{message}"):
        call_command("createsuperuser", interactive=False, username="keeper-of-the-light", email="k@example.com")
    assert not User.objects.exists()


def test_noinput_accepts_a_strong_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    call_command("createsuperuser", interactive=False, username="keeper", email="k@example.com", stdout=io.StringIO())
    user = User.objects.get(username="keeper")
    assert user.is_superuser and user.check_password(STRONG)


def test_noinput_without_a_password_makes_an_unusable_one(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("createsuperuser", interactive=False, username="keeper", email="k@example.com", stdout=io.StringIO())
    assert not User.objects.get(username="keeper").has_usable_password()


def test_the_prompt_asks_again_and_offers_no_bypass(monkeypatch):
    # Given an operator who types a common password (twice), then a strong one (twice), and who
    # would answer "y" to any question, Django's bypass question included
    typed = iter(["password", "password", STRONG, STRONG])
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ": next(typed))
    questions: list[str] = []

    def operator(prompt: str = "") -> str:
        questions.append(prompt)
        return "y"

    monkeypatch.setattr("builtins.input", operator)
    stderr = io.StringIO()
    # When createsuperuser prompts
    call_command(
        "createsuperuser",
        interactive=True,
        username="keeper",
        email="k@example.com",
        stdin=_Terminal(),
        stdout=io.StringIO(),
        stderr=stderr,
    )
    # Then the common password was refused without a way around, and the strong one was kept
    assert "This password is too common" in stderr.getvalue()
    assert "This password is refused; choose another." in stderr.getvalue()
    assert not any("Bypass" in question for question in questions)
    assert User.objects.get(username="keeper").check_password(STRONG)


def test_the_module_is_left_as_found(monkeypatch: Any) -> None:
    from django.contrib.auth.management.commands import createsuperuser as django_createsuperuser

    typed = iter([STRONG, STRONG])
    monkeypatch.setattr("getpass.getpass", lambda prompt="Password: ": next(typed))
    call_command(
        "createsuperuser",
        interactive=True,
        username="keeper",
        email="k@example.com",
        stdin=_Terminal(),
        stdout=io.StringIO(),
    )
    assert "input" not in vars(django_createsuperuser)
