"""One level of a walk: the links that leave a frontier, read index-only; what walks share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from django.db import connection

Direction = Literal["out", "in", "both"]
MAX_HOPS = 6
MAX_PATH_LENGTH = 12
MAX_NEIGHBORS = 1000

# Ids travel as text: building 70,000 uuid.UUID objects costs more than the index scan that
# found them (2.5x the transfer time, measured), and text compares like the UUIDs themselves.

# A step: (memory on the frontier, memory it reaches, link_type, strength)
Step = tuple[str, str, str, float]

_STEPS_OUT = "SELECT source_id AS via, target_id AS reached, link_type, strength FROM graph_link WHERE source_id = ANY({frontier}::uuid[])"
_STEPS_IN = "SELECT target_id AS via, source_id AS reached, link_type, strength FROM graph_link WHERE target_id = ANY({frontier}::uuid[])"


def steps_sql(direction: Direction, link_type: str | None, frontier: str = "%(frontier)s") -> str:
    """Every link leaving the frontier in `direction`, index-only on link_out / link_in."""
    parts = []
    for sql, wanted in ((_STEPS_OUT, ("out", "both")), (_STEPS_IN, ("in", "both"))):
        if direction in wanted:
            parts.append(sql.format(frontier=frontier) + (" AND link_type = %(link_type)s" if link_type else ""))
    return " UNION ALL ".join(parts)


def fetch_rows(sql: str, params: dict[str, Any]) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def links_from(
    frontier: Sequence[str], *, direction: Direction, link_type: str | None, into: Sequence[str] | None = None
) -> list[Step]:
    """The steps out of `frontier` (only those that land in `into`, when given): one query."""
    # Composed only of this module's constants; every value is a bound parameter.
    sql = f"SELECT via::text, reached::text, link_type, strength FROM ({steps_sql(direction, link_type)}) AS steps"  # noqa: S608
    if into is not None:
        sql += " WHERE reached = ANY(%(into)s::uuid[])"
    return fetch_rows(sql, {"frontier": list(frontier), "link_type": link_type, "into": list(into or ())})


def step_preference(step: Step) -> tuple[float, str, str]:
    """Which link brought a memory when several did: the strongest, then by type, then by origin."""
    return (-step[3], step[2], step[0])
