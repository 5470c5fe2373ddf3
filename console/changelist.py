"""The memory changelist's rows and its search box."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.contrib.postgres.search import SearchQuery
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Left
from django.http import HttpRequest

from memories.models import SEARCH_CONFIG, Memory

EXCERPT_CHARS = 80
SEARCH_MAX_CHARS = 200


class MemoryChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Memory]:
        queryset = super().get_queryset(request, exclude_parameters)
        # A page of rows needs neither the JSON documents nor the full text, only an excerpt.
        return queryset.defer("payload", "metadata", "text", "search_document").annotate(
            text_excerpt=Left("text", EXCERPT_CHARS + 1)
        )


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def memories_matching(queryset: QuerySet[Memory], search_term: str) -> QuerySet[Memory]:
    """Full-text matches of the embedded text, or substring matches of the payload JSON."""
    term = search_term.strip()[:SEARCH_MAX_CHARS]
    if not term:
        return queryset
    # Both branches have an index: GIN on search_document and a trigram GIN on payload::text
    # (console migration 0002_console_indexes), so a rare word does not scan the table.
    payload_match = RawSQL(
        '"memories_memory"."payload"::text ILIKE %s', [_like_pattern(term)], output_field=BooleanField()
    )
    matches = Q(search_document=SearchQuery(term, config=SEARCH_CONFIG, search_type="websearch")) | Q(payload_match)
    return queryset.filter(matches)
