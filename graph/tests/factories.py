from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from graph.models import Link
from memories.models import Memory


def _key(values: list[float] | None) -> str | None:
    return ",".join(repr(float(v)) for v in values) if values else None


class MemoryFactory(DjangoModelFactory):
    class Meta:
        model = Memory

    tenant = "default"
    namespace = "default"
    coordinate = factory.Sequence(lambda n: [float(n), 0.5])
    coord_key = factory.LazyAttribute(lambda o: _key(o.coordinate))
    payload = factory.LazyAttribute(lambda o: {"content": f"memory at {o.coord_key}"})
    text = factory.LazyAttribute(lambda o: o.payload["content"])


class LinkFactory(DjangoModelFactory):
    class Meta:
        model = Link

    source = factory.SubFactory(MemoryFactory)
    target = factory.SubFactory(MemoryFactory, tenant=factory.SelfAttribute("..source.tenant"))
    tenant = factory.LazyAttribute(lambda o: o.source.tenant)
    link_type = "related"
    strength = 1.0
