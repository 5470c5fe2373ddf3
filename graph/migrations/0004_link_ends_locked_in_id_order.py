"""The link trigger locks both ends in id order, as the memories' other multi-row lockers do.

0003's trigger read the source FOR SHARE, then the target. The access-count flush
(memories.access) updates many memories in one statement, locking them in id order; a link
whose source id sorts after its target id took its locks the other way round, and under load the
two deadlocked now and then (PostgreSQL broke the cycle after its deadlock_timeout, one second,
and the link request answered 503: bench/load_test.py, about once a minute). Locking both ends
in one statement, ordered by id, gives every such pair one order.
"""

from django.db import migrations

# The function of 0003 with its two locking reads given as `{ends}`.
_FUNCTION = r"""
CREATE OR REPLACE FUNCTION graph_link_same_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source_tenant text;
    target_tenant text;
BEGIN
{ends}
    IF (source_tenant IS NOT NULL AND source_tenant <> NEW.tenant)
       OR (target_tenant IS NOT NULL AND target_tenant <> NEW.tenant) THEN
        RAISE EXCEPTION 'link % -> % would cross tenants (link %, ends %, %)',
            NEW.source_id, NEW.target_id, NEW.tenant, source_tenant, target_tenant
            USING ERRCODE = 'check_violation', CONSTRAINT = 'link_same_tenant', TABLE = 'graph_link';
    END IF;
    RETURN NEW;
END
$$;
"""

FORWARD = _FUNCTION.format(
    ends="""    PERFORM 1 FROM memories_memory WHERE id IN (NEW.source_id, NEW.target_id) ORDER BY id FOR SHARE;
    SELECT tenant INTO source_tenant FROM memories_memory WHERE id = NEW.source_id;
    SELECT tenant INTO target_tenant FROM memories_memory WHERE id = NEW.target_id;"""
)

# 0003's function, as it was.
BACKWARD = _FUNCTION.format(
    ends="""    SELECT tenant INTO source_tenant FROM memories_memory WHERE id = NEW.source_id FOR SHARE;
    SELECT tenant INTO target_tenant FROM memories_memory WHERE id = NEW.target_id FOR SHARE;"""
)


class Migration(migrations.Migration):
    dependencies = [
        ("graph", "0003_link_same_tenant_trigger"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
