from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.admin.templatetags.admin_list import result_headers
from django.test import Client
from django.utils import timezone

from console.admin import EXCERPT_CHARS
from memories.models import Memory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/memories/memory/"


def _listed(client: Client, query: str = "") -> set[str]:
    response = client.get(CHANGELIST + query)
    assert response.status_code == 200
    return {str(memory.pk) for memory in response.context["cl"].result_list}


@pytest.fixture
def corpus(make_memory: Any) -> dict[str, Memory]:
    return {
        "whale": make_memory(
            {"content": "Whales sing across the ocean", "user": "u-417"},
            tenant="acme",
            namespace="sea",
            memory_type="semantic",
        ),
        "ship": make_memory({"content": "The ship left the harbour at dawn"}, tenant="acme", namespace="sea"),
        "cake": make_memory(
            {"content": "Grandmother's lemon cake recipe", "tags": ["baking"]}, tenant="acme", namespace="kitchen"
        ),
        "other": make_memory({"content": "Whales are mammals"}, tenant="globex", namespace="sea"),
    }


def _ids(corpus: dict[str, Memory], *names: str) -> set[str]:
    return {str(corpus[name].pk) for name in names}


def test_columns_show_the_memory_at_a_glance(curator_client: Client, make_memory: Any) -> None:
    memory = make_memory({"content": "x" * 300}, coord="1.5,2", importance=0.25)
    response = curator_client.get(CHANGELIST)
    html = response.content.decode()
    headers = [header["text"] for header in result_headers(response.context["cl"])][1:]  # after the checkbox
    assert headers == [
        "coordinate",
        "memory type",
        "tenant",
        "namespace",
        "text",
        "importance",
        "vector status",
        "created at",
    ]
    assert ">1.5,2.0</a>" in html
    assert "x" * EXCERPT_CHARS + "…" in html and "x" * (EXCERPT_CHARS + 1) not in html
    assert str(memory.pk) in html


def test_full_text_search_matches_words_in_the_text(curator_client: Client, corpus: dict[str, Memory]) -> None:
    # Stemming: "whale" finds "Whales"; every tenant is searched (curators see all of them).
    assert _listed(curator_client, "?q=whale") == _ids(corpus, "whale", "other")
    assert _listed(curator_client, "?q=harbour dawn") == _ids(corpus, "ship")
    assert _listed(curator_client, '?q="lemon cake"') == _ids(corpus, "cake")


def test_search_matches_values_inside_the_payload(curator_client: Client, corpus: dict[str, Memory]) -> None:
    assert _listed(curator_client, "?q=u-417") == _ids(corpus, "whale")
    assert _listed(curator_client, "?q=baking") == _ids(corpus, "cake")
    # LIKE wildcards typed by the user are literal characters.
    assert _listed(curator_client, "?q=%25") == set()
    assert _listed(curator_client, "?q=nothing-like-this") == set()
    assert _listed(curator_client, "?q=itself") == set()  # only a stop word, and in no payload


def test_search_with_a_nul_character_is_refused_with_a_message(curator_client: Client, corpus: Any) -> None:
    response = curator_client.get(CHANGELIST + "?q=bak%00ing")
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["Null characters are not allowed."]


def test_filters_select_by_tenant_namespace_type_and_status(curator_client: Client, corpus: dict[str, Memory]) -> None:
    assert _listed(curator_client, "?tenant=globex") == _ids(corpus, "other")
    assert _listed(curator_client, "?tenant=acme&namespace=sea") == _ids(corpus, "whale", "ship")
    assert _listed(curator_client, "?memory_type__exact=semantic") == _ids(corpus, "whale")
    Memory.objects.filter(pk=corpus["cake"].pk).update(vector_status="failed")
    assert _listed(curator_client, "?vector_status__exact=failed") == _ids(corpus, "cake")
    assert _listed(curator_client, "?tenant=acme&q=whale") == _ids(corpus, "whale")


def test_filter_choices_list_tenants_and_namespaces(curator_client: Client, corpus: dict[str, Memory]) -> None:
    response = curator_client.get(CHANGELIST)
    choices = {
        spec.title: [c["display"] for c in spec.choices(response.context["cl"])]
        for spec in response.context["cl"].filter_specs
    }
    assert choices["tenant"] == ["All", "acme", "globex"]
    assert choices["namespace"] == ["All", "kitchen", "sea"]


def test_date_filter(curator_client: Client, corpus: dict[str, Memory]) -> None:
    Memory.objects.filter(pk=corpus["ship"].pk).update(created_at=timezone.now() - timedelta(days=40))
    since = urlencode({"created_at__gte": str(timezone.now() - timedelta(days=7))})
    assert _listed(curator_client, f"?{since}") == _ids(corpus, "whale", "cake", "other")


def test_changelist_query_count_is_pinned(
    curator_client: Client, make_memory: Any, django_assert_num_queries: Any
) -> None:
    # Given 60 memories (more than a page) and warm filter choices
    for index in range(60):
        make_memory({"content": f"memory {index}"}, coord=f"{index},0", tenant=f"t{index % 3}")
    curator_client.get(CHANGELIST)
    # When a page is listed: session, user, user and group permissions, the row estimate (a small
    # table is then counted exactly), count, page. Then no query per row.
    with django_assert_num_queries(7):
        response = curator_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 50
    # A filtered list is counted exactly, without the estimate.
    with django_assert_num_queries(6):
        response = curator_client.get(CHANGELIST + "?tenant=t1&q=memory")
    assert response.context["cl"].result_count == 20
