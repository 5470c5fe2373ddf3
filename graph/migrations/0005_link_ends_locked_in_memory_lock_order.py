"""The link trigger locks both ends in the memories' one lock order (MemoryQuerySet.in_lock_order).

0004 ordered them by id, the order of the access-count flush then. The flush no longer waits for
a held row (SKIP LOCKED), but batches replace memories in coordinate order, and a link whose
ends' ids sorted against their coordinates could still deadlock with a batch replacing both
(one of them answered 503). Batches cannot lock by id (their inserts only have a coordinate),
so the link, like the aging deletes, now locks by (tenant, namespace, coordinate key, id),
compared byte by byte, which is how a batch sorts its rows.
"""

import importlib

from django.db import migrations

_previous = importlib.import_module("graph.migrations.0004_link_ends_locked_in_id_order")

FORWARD = _previous._FUNCTION.format(
    ends="""    PERFORM 1 FROM memories_memory WHERE id IN (NEW.source_id, NEW.target_id)
        ORDER BY tenant COLLATE "C", namespace COLLATE "C", coalesce(coord_key, '') COLLATE "C", id
        FOR SHARE;
    SELECT tenant INTO source_tenant FROM memories_memory WHERE id = NEW.source_id;
    SELECT tenant INTO target_tenant FROM memories_memory WHERE id = NEW.target_id;"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("graph", "0004_link_ends_locked_in_id_order"),
    ]

    operations = [migrations.RunSQL(FORWARD, _previous.FORWARD)]
