"""Both ends of a link belong to the link's tenant, enforced by PostgreSQL.

A CHECK constraint cannot look at other rows, so two triggers keep the invariant:

- on graph_link, before a row is inserted or its ends/tenant change: both memories must carry
  the link's tenant. The memories are read FOR SHARE, so a concurrent change of their tenant
  waits for this transaction (and then sees the link) instead of racing past it.
- on memories_memory, before its tenant changes: refused while any link touches the memory.

A missing end is left to the foreign key (deferred, so it fails at commit).
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION graph_link_same_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    source_tenant text;
    target_tenant text;
BEGIN
    SELECT tenant INTO source_tenant FROM memories_memory WHERE id = NEW.source_id FOR SHARE;
    SELECT tenant INTO target_tenant FROM memories_memory WHERE id = NEW.target_id FOR SHARE;
    IF (source_tenant IS NOT NULL AND source_tenant <> NEW.tenant)
       OR (target_tenant IS NOT NULL AND target_tenant <> NEW.tenant) THEN
        RAISE EXCEPTION 'link % -> % would cross tenants (link %, ends %, %)',
            NEW.source_id, NEW.target_id, NEW.tenant, source_tenant, target_tenant
            USING ERRCODE = 'check_violation', CONSTRAINT = 'link_same_tenant', TABLE = 'graph_link';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER link_same_tenant
    BEFORE INSERT OR UPDATE OF tenant, source_id, target_id ON graph_link
    FOR EACH ROW EXECUTE FUNCTION graph_link_same_tenant();

CREATE FUNCTION graph_memory_tenant_fixed_while_linked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM graph_link WHERE source_id = OLD.id OR target_id = OLD.id) THEN
        RAISE EXCEPTION 'memory % has links: its tenant cannot change', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'link_same_tenant', TABLE = 'memories_memory';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER memory_tenant_fixed_while_linked
    BEFORE UPDATE OF tenant ON memories_memory
    FOR EACH ROW WHEN (OLD.tenant IS DISTINCT FROM NEW.tenant)
    EXECUTE FUNCTION graph_memory_tenant_fixed_while_linked();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS memory_tenant_fixed_while_linked ON memories_memory;
DROP FUNCTION IF EXISTS graph_memory_tenant_fixed_while_linked();
DROP TRIGGER IF EXISTS link_same_tenant ON graph_link;
DROP FUNCTION IF EXISTS graph_link_same_tenant();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("graph", "0002_link_rules_and_traversal_indexes"),
        ("memories", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
