"""Graph reads (PostgreSQL only), each scoped to a tenant.

Traversals are breadth-first, one level at a time: each level is one query that reads the links
of the whole frontier from the covering indexes `link_out` / `link_in` (index-only scans), and
Python keeps the visited set, so every memory is reached once, at its smallest depth. Work stops
at the depth cap, when a frontier empties, once enough neighbours are found (a neighbour level
is ranked and cut in the database, so it never returns more rows than the answer still needs),
or when the two searches of a path meet. bench/README-graph.md has the measurements that chose
this over a recursive CTE.

No traversal query filters on the tenant: a link joins two memories of its own tenant (the
`link_same_tenant` trigger), so a walk that starts from a memory of tenant T stays in T. The
memories are then loaded with a tenant filter all the same.

A node of the graph is a memory or a bare coordinate: a `Memory` row with `bare_node` set,
made when a coordinate where nothing is stored is linked (the earlier service's clients link
co-recalled coordinates first). Walks pass through both kinds alike; answers show `memory: None`
for a bare node, and search's expansion (`neighbors_for_many`) returns memories only.
"""
