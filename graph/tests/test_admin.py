from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from graph.admin import INLINE_MAX_ROWS, IncomingLinkInline, OutgoingLinkInline
from graph.models import Link
from graph.selectors.nodes import MemoryRef
from graph.services import link_upsert
from memories.models import Memory
from tests_support.factories import LinkFactory, MemoryFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/graph/link/"


@pytest.fixture
def superuser() -> User:
    # No password: hashing one costs a third of a second per test, and force_login needs none.
    return User.objects.create(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(superuser: User) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


def test_changelist_query_count_does_not_grow_with_the_page(staff, django_assert_max_num_queries):
    hub = MemoryFactory()
    for _ in range(3):
        LinkFactory(source=hub)
    staff.get(CHANGELIST)  # warm the session and the filter choices cache
    with django_assert_max_num_queries(12) as few:
        assert staff.get(CHANGELIST).status_code == 200
    for _ in range(40):
        LinkFactory(source=hub, link_type="cites")

    with django_assert_max_num_queries(len(few)):
        response = staff.get(CHANGELIST)

    assert response.status_code == 200
    assert b"cites" in response.content


def test_changelist_search_and_filters(staff):
    a = MemoryFactory(tenant="t1", coordinate=[7.0, 7.0], coord_key="7.0,7.0")
    wanted = LinkFactory(source=a, link_type="cites")
    LinkFactory(target=a, source__tenant="t1", link_type="mentions")
    LinkFactory(source__tenant="t2", link_type="cites")

    def ids(**params):
        response = staff.get(CHANGELIST, params)
        assert response.status_code == 200
        return sorted(link.pk for link in response.context["cl"].result_list)

    assert len(ids(q=str(a.pk))) == 2
    assert len(ids(q="7,7")) == 2
    assert ids(q="cites", tenant="t1") == [wanted.pk]
    assert len(ids(link_type="cites")) == 2
    assert ids(q="1,nope") == []
    filters = staff.get(CHANGELIST).content.decode()
    assert "?link_type=mentions" in filters
    assert "?tenant=t2" in filters


def test_admin_add_refuses_a_cross_tenant_link(staff):
    mine, theirs = MemoryFactory(tenant="a"), MemoryFactory(tenant="b")

    response = staff.post(
        "/admin/graph/link/add/",
        {"source": str(mine.pk), "target": str(theirs.pk), "link_type": "related", "strength": "1.0", "metadata": "{}"},
    )

    assert response.status_code == 200
    assert "same tenant" in response.content.decode()
    assert not Link.objects.exists()


def test_admin_add_sets_the_tenant(staff):
    mine, other = MemoryFactory(tenant="a"), MemoryFactory(tenant="a")

    response = staff.post(
        "/admin/graph/link/add/",
        {"source": str(mine.pk), "target": str(other.pk), "link_type": "cites", "strength": "0.5", "metadata": "{}"},
    )

    assert response.status_code == 302, response.content
    assert list(Link.objects.values_list("tenant", "link_type", "strength")) == [("a", "cites", 0.5)]


@pytest.mark.parametrize(("inline", "end"), [(OutgoingLinkInline, "source"), (IncomingLinkInline, "target")])
def test_inlines_show_the_newest_links_of_a_memory(superuser, inline, end):
    memory = MemoryFactory()
    links = [LinkFactory(**{end: memory}) for _ in range(INLINE_MAX_ROWS + 5)]
    LinkFactory()  # someone else's
    request = RequestFactory().get("/")
    request.user = superuser

    formset_class = inline(Memory, admin.site).get_formset(request, obj=memory)
    formset = formset_class(instance=memory, queryset=Link.objects.all())

    shown = [form.instance.pk for form in formset.forms]
    assert shown == [link.pk for link in reversed(links)][:INLINE_MAX_ROWS]
    assert inline.fk_name == end
    assert inline.raw_id_fields == ["target" if end == "source" else "source"]


def test_inline_adds_a_link_from_the_memory(superuser):
    memory, other = MemoryFactory(tenant="a"), MemoryFactory(tenant="a")
    request = RequestFactory().get("/")
    request.user = superuser
    formset_class = OutgoingLinkInline(Memory, admin.site).get_formset(request, obj=memory)
    prefix = formset_class.get_default_prefix()
    data = {
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-0-target": str(other.pk),
        f"{prefix}-0-link_type": "cites",
        f"{prefix}-0-strength": "0.25",
        f"{prefix}-0-metadata": "{}",
    }

    formset = formset_class(data, instance=memory, queryset=Link.objects.all())

    assert formset.is_valid(), formset.errors
    formset.save()
    assert list(Link.objects.values_list("tenant", "source_id", "target_id", "link_type")) == [
        ("a", memory.pk, other.pk, "cites")
    ]


def test_a_bare_coordinate_end_is_labelled_found_and_editable(staff):
    # Given a memory linked to a coordinate where nothing is stored
    memory = MemoryFactory(tenant="a", coordinate=[1.0, 1.0])
    link = link_upsert(
        tenant="a", source=MemoryRef(id=memory.pk), target=MemoryRef(coord_key="2.0,2.0"), link_type="co_recalled"
    ).link
    bare = Memory.with_nodes.get(coord_key="2.0,2.0")

    # Then the list labels it, a search by its coordinate finds the link, and its form saves
    listed = staff.get(CHANGELIST, {"q": "2,2"})
    assert [row.pk for row in listed.context["cl"].result_list] == [link.pk]
    assert '<td class="field-target_label">2.0,2.0 (coordinate, no memory stored)</td>' in listed.content.decode()
    response = staff.post(
        f"/admin/graph/link/{link.pk}/change/",
        {
            "source": str(memory.pk),
            "target": str(bare.pk),
            "link_type": "co_recalled",
            "strength": "0.25",
            "metadata": "{}",
        },
    )
    assert response.status_code == 302, response.content
    assert Link.objects.get().strength == 0.25
