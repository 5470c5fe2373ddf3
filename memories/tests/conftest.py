from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from memories.models import Memory


@pytest.fixture
def make_memory(db: Any) -> Callable[..., Memory]:
    """A stored memory with the given text (no history: written past the services)."""

    def make(text: str, **fields: Any) -> Memory:
        return Memory.objects.create(payload={"content": text}, text=text, **fields)

    return make
