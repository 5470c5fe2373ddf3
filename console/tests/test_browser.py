"""End to end in a real headless Chromium: log in through the form, open a memory, take a screenshot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from console.tests.browser import Browser, find_chromium
from memories.services.create import MemoryDraft, memory_upsert

CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary on PATH: `apt-get install chromium` (make test runs scripts/test_deps.py, "
        "which installs it on Debian as root)",
    ),
]


def test_curator_logs_in_and_opens_a_memory(live_server: Any, tmp_path: Path) -> None:
    # Given a superuser and a memory
    User.objects.create_superuser("curator-e2e", password="e2e-password-Long-1")
    memory, _ = memory_upsert(
        tenant="acme",
        draft=MemoryDraft(
            payload={"content": "The lighthouse keeper logged a storm at dawn", "wind": "NW 9"},
            coord="4.5,2",
            metadata={"source": "logbook"},
        ),
    )
    change_path = f"/admin/memories/memory/{memory.pk}/change/"
    assert CHROMIUM is not None
    with Browser(CHROMIUM) as browser:
        # When the login form is filled in and sent
        browser.navigate(f"{live_server.url}/admin/login/?next={change_path}")
        assert browser.evaluate("document.title").startswith("Log in")
        credentials = json.dumps({"username": "curator-e2e", "password": "e2e-password-Long-1"})
        browser.submit_and_wait(
            f"const c = {credentials};"
            "document.querySelector('#id_username').value = c.username;"
            "document.querySelector('#id_password').value = c.password;"
            "document.querySelector('#login-form').submit();"
        )
        # Then the browser lands on the memory's change page
        assert browser.evaluate("location.pathname") == change_path
        dom = browser.dom()
        screenshot = browser.screenshot(tmp_path / "memory-change-page.png")
    assert "The lighthouse keeper logged a storm at dawn" in dom
    assert "Similar memories" in dom and "Neighbourhood (2 hops)" in dom
    assert '"wind": "NW 9"' in dom
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, f"screenshot is suspiciously small ({len(data)} bytes)"
