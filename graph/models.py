from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from memories.models import Memory


class Link(models.Model):
    # Denormalised from the ends (which must share it) so tenant-scoped reads need no join.
    tenant = models.CharField(max_length=64)
    source = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="outgoing_links")
    target = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="incoming_links")
    link_type = models.CharField(max_length=64, default="related")
    strength = models.FloatField(default=1.0)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "link_type"], name="link_unique_per_type"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="link_no_self_link"),
        ]
        indexes = [
            models.Index(fields=["tenant"], name="link_tenant"),
            models.Index(fields=["source", "link_type"], name="link_out"),
            models.Index(fields=["target", "link_type"], name="link_in"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -[{self.link_type}]-> {self.target_id}"
