from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import MD5, Coalesce, Collate
from django.utils import timezone


class MemoryType(models.TextChoices):
    EPISODIC = "episodic"
    SEMANTIC = "semantic"


class VectorStatus(models.TextChoices):
    PENDING = "pending"
    INDEXED = "indexed"
    FAILED = "failed"


SEARCH_CONFIG = "english"
# About a century: further than that is "never", and keeps now + ttl inside a datetime.
MAX_TTL_SECONDS = 100 * 366 * 86400


class MemoryQuerySet(models.QuerySet["Memory"]):
    def for_tenant(self, tenant: str) -> MemoryQuerySet:
        return self.filter(tenant=tenant)

    def in_namespace(self, tenant: str, namespace: str) -> MemoryQuerySet:
        return self.filter(tenant=tenant, namespace=namespace)

    def dirty(self) -> MemoryQuerySet:
        return self.exclude(vector_status=VectorStatus.INDEXED)

    def visible(self, now: datetime | None = None) -> MemoryQuerySet:
        """Memories not expired at `now`: an expired one is read as if deleted until purged."""
        return self.filter(visible_q(now))

    def expired(self, now: datetime | None = None) -> MemoryQuerySet:
        return self.filter(expires_at__lte=now or timezone.now())

    def in_lock_order(self) -> MemoryQuerySet:
        """The order every transaction that locks several stored memories takes their locks in.

        One order for all of them, so two can never wait for each other in a cycle: batches
        replace memories by coordinate (`lock_key`, the only order that also fits their
        inserts), the aging deletes and a link's trigger (graph migration 0005) use the same
        key. Compared byte by byte ("C"), which is Python's order of the same strings.
        """
        return self.order_by(*LOCK_ORDER)


def lock_key(namespace: str, coord_key: str | None) -> tuple[str, str]:
    """A batch row's place in the lock order (within its one tenant; no coordinate sorts first)."""
    return (namespace, coord_key or "")


LOCK_ORDER = (
    Collate("tenant", "C"),
    Collate("namespace", "C"),
    Collate(Coalesce("coord_key", Value("")), "C"),
    "id",
)


def visible_q(now: datetime | None = None) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())


class StoredMemoryManager(models.Manager.from_queryset(MemoryQuerySet)):  # type: ignore[misc]
    """The default manager: memories only, never the bare coordinate nodes of the graph.

    So every list, search, count, index sweep, admin page and history sees memories alone
    without having to remember the graph. Related-object access (`link.source`) goes through
    Django's unfiltered base manager and still reaches a bare node.
    """

    def get_queryset(self) -> MemoryQuerySet:
        return super().get_queryset().filter(bare_node=False)


class Memory(models.Model):
    """One memory of one tenant: a JSON `payload` an agent stored, and the `text` embedded for it.

    A row lives in a `tenant` (never crossed) and a `namespace` (a conversation, a topic). It may
    have a `coordinate`, 1 to 16 numbers, with `coord_key` its canonical text (memories.coordinates):
    unique in the tenant+namespace, so storing at a used coordinate replaces that memory in
    place. `text` is the text given, or derived from the payload (memories.text).

    Vector state: the vector index (the vectors app) is kept beside the row, not in it.
    `vector_status` is `pending` after every write that changes what the vector point holds,
    `indexed` once embedded (`vector_model`, `vector_epoch`), `failed` with `vector_error`;
    `reindex --dirty` sweeps what is not indexed.

    Aging: an `expires_at` in the past makes the row invisible to every read, as if deleted,
    until it is purged; `pinned` keeps it from forgetting policies; `last_accessed_at` and
    `access_count` move when it is read or found (memories.access), never through save().

    `version` is the number of its latest entry in its history (MemoryVersion). A row with
    `bare_node` set is not a memory but a coordinate of the graph (see below).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.CharField(max_length=64, default="default")
    namespace = models.CharField(max_length=64, default="default")
    coordinate = ArrayField(models.FloatField(), size=16, null=True, blank=True)
    coord_key = models.CharField(max_length=512, null=True, blank=True, editable=False)
    memory_type = models.CharField(max_length=16, choices=MemoryType.choices, default=MemoryType.EPISODIC)
    payload = models.JSONField(default=dict)
    text = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    importance = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    vector_status = models.CharField(
        max_length=16, choices=VectorStatus.choices, default=VectorStatus.PENDING, editable=False
    )
    # Aging: a pinned memory is never forgotten by a policy (it still expires); an expired one is
    # invisible to every read from `expires_at` on, and purged later (sweeper, `prune_expired`).
    pinned = models.BooleanField(default=False, db_default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Moved by reads and search hits through memories.access (batched), never by save().
    last_accessed_at = models.DateTimeField(null=True, blank=True, editable=False)
    access_count = models.PositiveBigIntegerField(default=0, db_default=0, editable=False)
    vector_model = models.CharField(max_length=128, blank=True, default="", editable=False)
    vector_error = models.CharField(max_length=500, blank=True, default="", editable=False)
    # The embedded engine's flush window of the write that indexed this memory (0: durable when
    # written, e.g. a Qdrant server): rows after the engine's last durable window are re-indexed
    # at start-up (vectors.stores.edge_flush, vectors.services.maintenance.points_recover).
    vector_epoch = models.BigIntegerField(default=0, db_default=0, editable=False)
    # The number of the memory's latest version in its history (MemoryVersion).
    version = models.PositiveIntegerField(default=1, db_default=1, editable=False)
    # Keyword search and the degraded fallback rank with PostgreSQL full-text search.
    search_document = models.GeneratedField(
        expression=SearchVector("text", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    # A coordinate that is only a node of the graph: it was linked (the earlier service's clients
    # link co-recalled coordinates) before any memory was stored there. Payload and text stay
    # empty, it is never embedded, listed, searched or counted. Storing a memory at its
    # coordinate fills this very row (the coordinate's unique key makes that race-free), so the
    # links made before are the memory's links: same id, no copy.
    # db_default: the raw INSERTs (upserts, import, benches) leave the column out.
    bare_node = models.BooleanField(default=False, db_default=False, editable=False)

    objects = StoredMemoryManager()
    # Memories and bare coordinate nodes: for the graph, and for export.
    with_nodes = MemoryQuerySet.as_manager()

    class Meta:
        constraints = [
            # NULL keys never collide, so memories without a coordinate are unconstrained.
            models.UniqueConstraint(fields=["tenant", "namespace", "coord_key"], name="memory_unique_coordinate"),
            models.CheckConstraint(
                condition=Q(importance__gte=0.0) & Q(importance__lte=1.0), name="memory_importance_0_1"
            ),
            models.CheckConstraint(condition=Q(memory_type__in=MemoryType.values), name="memory_type_valid"),
            models.CheckConstraint(
                condition=Q(vector_status__in=VectorStatus.values), name="memory_vector_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(coordinate__isnull=True, coord_key__isnull=True)
                | Q(coordinate__isnull=False, coord_key__isnull=False),
                name="memory_coordinate_has_key",
            ),
            models.CheckConstraint(
                condition=Q(bare_node=False) | Q(coord_key__isnull=False), name="memory_bare_node_has_coordinate"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "namespace", "-created_at", "-id"], name="memory_listing"),
            models.Index(fields=["tenant", "-created_at", "-id"], name="memory_tenant_listing"),
            models.Index(fields=["vector_status"], condition=~Q(vector_status="indexed"), name="memory_dirty"),
            models.Index(fields=["vector_epoch"], condition=Q(vector_epoch__gt=0), name="memory_vector_epoch"),
            GinIndex(fields=["payload"], name="memory_payload", opclasses=["jsonb_path_ops"]),
            GinIndex(fields=["search_document"], name="memory_search_document"),
            # dedupe="exact" looks a text up by its hash: no scan, and a small index (16-byte keys).
            models.Index(F("tenant"), F("namespace"), MD5("text"), name="memory_text_hash"),
            # The purge's scan: only the few memories that expire at all.
            models.Index(fields=["expires_at"], condition=Q(expires_at__isnull=False), name="memory_expiry"),
        ]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "memories"

    def __str__(self) -> str:
        label = self.coord_key or str(self.id)
        return f"{label} ({self.tenant}/{self.namespace})"

    @property
    def coord(self) -> str | None:
        return self.coord_key


class VersionEvent(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    EXPIRED = "expired"
    FORGOTTEN = "forgotten"


# Events after which the memory no longer exists; its history is then its tombstone.
REMOVAL_EVENTS = (VersionEvent.DELETED, VersionEvent.EXPIRED, VersionEvent.FORGOTTEN)


class MemoryVersion(models.Model):
    """One change of a memory: who, when, which fields, and the memory as it was after it.

    No foreign key: the history of a deleted memory outlives it (SOMA_HISTORY_RETENTION_DAYS).
    """

    memory_id = models.UUIDField()
    tenant = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    event = models.CharField(max_length=16, choices=VersionEvent.choices)
    # "master", "key:<name>", "admin:<user>" or "system".
    actor = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)
    changed = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    snapshot = models.JSONField()
    # What other apps keep with a removal so a restore can bring it back (graph: the links).
    related = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            # Also the index of the history reads: one memory's versions, newest first.
            models.UniqueConstraint(fields=["memory_id", "version"], name="memory_version_unique"),
            models.CheckConstraint(condition=Q(event__in=VersionEvent.values), name="memory_version_event_valid"),
        ]
        indexes = [
            # Rows arrive in time order, so a BRIN index finds the old ones for pruning at a
            # fraction of a B-tree's size and write cost.
            BrinIndex(fields=["at"], name="memory_version_at"),
            models.Index(
                fields=["tenant", "-at"], condition=Q(event__in=REMOVAL_EVENTS), name="memory_version_removed"
            ),
        ]
        ordering = ["memory_id", "-version"]

    def __str__(self) -> str:
        return f"{self.memory_id} v{self.version} {self.event}"


class IdempotencyKey(models.Model):
    """The first answer to a write sent with an `Idempotency-Key`, replayed to its retries."""

    tenant = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_key_unique")]
        indexes = [BrinIndex(fields=["created_at"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.tenant}/{self.key}"
