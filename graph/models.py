from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import CharField, F, Func, Q
from django.db.models.lookups import Exact

from core.errors import ServiceError
from graph.validation import (
    LINK_TYPE_PATTERN,
    validate_link_ends,
    validate_link_metadata,
    validate_link_type,
    validate_strength,
)
from memories.models import Memory

# float8 also holds ±Infinity and NaN (which PostgreSQL sorts above Infinity): bounding by the
# largest finite double refuses all three.
MAX_STRENGTH = sys.float_info.max


class LinkQuerySet(models.QuerySet["Link"]):
    def for_tenant(self, tenant: str) -> LinkQuerySet:
        return self.filter(tenant=tenant)


class Link(models.Model):
    """A typed, weighted, directed edge between two nodes of one tenant's graph.

    An end is a memory or a bare coordinate node (a `Memory` row with `bare_node` set); deleting
    either end deletes the link. A pair of ends holds at most one link of each `link_type`.
    """

    # Denormalised from the ends, which must share it (checked by the `link_same_tenant` trigger,
    # migration 0003, which also keeps a linked memory's tenant fixed): because no link crosses
    # tenants, a traversal that starts in a tenant can never leave it, and tenant-scoped reads
    # need no join.
    tenant = models.CharField(max_length=64)
    # No single-column FK indexes: link_out / link_in below lead with these columns.
    source = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="outgoing_links", db_index=False)
    target = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="incoming_links", db_index=False)
    link_type = models.CharField(max_length=64, default="related")
    strength = models.FloatField(default=1.0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LinkQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "link_type"], name="link_unique_per_type"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="link_no_self_link"),
            models.CheckConstraint(condition=Q(link_type__regex=LINK_TYPE_PATTERN), name="link_type_valid"),
            models.CheckConstraint(
                condition=Q(strength__gte=-MAX_STRENGTH, strength__lte=MAX_STRENGTH), name="link_strength_finite"
            ),
            models.CheckConstraint(
                condition=Exact(Func(F("metadata"), function="jsonb_typeof", output_field=CharField()), "object"),
                name="link_metadata_object",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "link_type"], name="link_tenant"),
            # Traversals read (other end, type, strength) for a whole frontier per query; with the
            # other end and strength in the index they are index-only scans.
            models.Index(fields=["source", "link_type"], include=["target", "strength"], name="link_out"),
            models.Index(fields=["target", "link_type"], include=["source", "strength"], name="link_in"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -[{self.link_type}]-> {self.target_id}"

    def clean(self) -> None:
        """The API's rules (graph.validation), with the same messages, as the admin's field errors."""
        errors: dict[str, str] = {}

        def check(field: str, rule: Callable[..., Any], *values: Any) -> None:
            try:
                rule(*values)
            except ServiceError as exc:
                errors[field] = str(exc.detail)

        check("target", validate_link_ends, self.source_id, self.target_id)
        # A blank or a malformed number is the field's own error already (clean_fields).
        if self.link_type:
            check("link_type", validate_link_type, self.link_type)
        if self.strength is not None:
            check("strength", validate_strength, self.strength)
        if self.metadata is not None:
            check("metadata", validate_link_metadata, self.metadata)
        if self.source_id is not None and self.target_id is not None:
            tenants = dict(
                Memory.with_nodes.filter(pk__in=[self.source_id, self.target_id]).values_list("pk", "tenant")
            )
            if tenants.get(self.source_id) != tenants.get(self.target_id):
                errors["target"] = "Both ends of a link must belong to the same tenant."
            elif self.source_id in tenants:
                self.tenant = tenants[self.source_id]
        if errors:
            raise ValidationError(errors)
