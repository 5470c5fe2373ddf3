from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from memories.models import Memory
from tests_support.factories import memory_row


@pytest.fixture
def make_memory(db: Any) -> Callable[..., Memory]:
    """A stored memory with the given text (no history: written past the services)."""

    return memory_row
