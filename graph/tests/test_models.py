"""The rules PostgreSQL itself enforces, whoever writes (the ORM here, bypassing the services)."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction

from graph.models import Link
from memories.models import Memory
from tests_support.factories import LinkFactory, MemoryFactory

pytestmark = pytest.mark.django_db


def refused(**fields):
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Link.objects.create(**fields)


def test_one_link_per_source_target_and_type():
    link = LinkFactory(link_type="cites")

    refused(tenant=link.tenant, source=link.source, target=link.target, link_type="cites")
    Link.objects.create(tenant=link.tenant, source=link.source, target=link.target, link_type="mentions")
    Link.objects.create(tenant=link.tenant, source=link.target, target=link.source, link_type="cites")

    assert Link.objects.count() == 3


def test_no_self_link():
    memory = MemoryFactory()

    refused(tenant=memory.tenant, source=memory, target=memory)

    assert not Link.objects.exists()


def test_both_ends_in_the_links_tenant():
    mine, theirs = MemoryFactory(tenant="a"), MemoryFactory(tenant="b")
    other_mine = MemoryFactory(tenant="a")

    refused(tenant="a", source=mine, target=theirs)
    refused(tenant="b", source=mine, target=theirs)
    refused(tenant="b", source=mine, target=other_mine)
    link = Link.objects.create(tenant="a", source=mine, target=other_mine)
    with pytest.raises(IntegrityError), transaction.atomic():
        Link.objects.filter(pk=link.pk).update(target=theirs)

    assert list(Link.objects.values_list("tenant", "source_id", "target_id")) == [("a", mine.pk, other_mine.pk)]


def test_a_linked_memory_cannot_change_tenant():
    link = LinkFactory(source__tenant="a")
    loose = MemoryFactory(tenant="a")

    with pytest.raises(IntegrityError), transaction.atomic():
        Memory.objects.filter(pk=link.source_id).update(tenant="b")
    Memory.objects.filter(pk=loose.pk).update(tenant="b")

    assert Memory.objects.get(pk=link.source_id).tenant == "a"
    assert Memory.objects.get(pk=loose.pk).tenant == "b"


@pytest.mark.parametrize("link_type", ["", "has space", "x" * 65, "émoji", "a/b"])
def test_link_type_pattern(link_type):
    source = MemoryFactory()
    refused(tenant=source.tenant, source=source, target=MemoryFactory(), link_type=link_type)


@pytest.mark.parametrize("strength", [math.inf, -math.inf, math.nan])
def test_strength_is_finite(strength):
    source = MemoryFactory()
    refused(tenant=source.tenant, source=source, target=MemoryFactory(), strength=strength)


def test_metadata_is_an_object():
    source = MemoryFactory()
    refused(tenant=source.tenant, source=source, target=MemoryFactory(), metadata=[1, 2])


def test_deleting_a_memory_deletes_its_links_both_ways():
    hub = MemoryFactory()
    LinkFactory(source=hub)
    LinkFactory(target=hub)
    kept = LinkFactory()

    hub.delete()

    assert list(Link.objects.values_list("pk", flat=True)) == [kept.pk]


def test_clean_explains_the_rules_and_takes_the_tenant_from_the_ends():
    mine, theirs = MemoryFactory(tenant="a"), MemoryFactory(tenant="b")
    other = MemoryFactory(tenant="a")

    with pytest.raises(ValidationError) as self_link:
        Link(source=mine, target=mine).clean()
    with pytest.raises(ValidationError) as cross:
        Link(source=mine, target=theirs).clean()
    link = Link(source=mine, target=other, link_type="ok")
    link.clean()

    assert "itself" in str(self_link.value)
    assert "same tenant" in str(cross.value)
    assert link.tenant == "a"
