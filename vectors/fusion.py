"""How hybrid search turns a dense and a BM25 ranking into one relevance score.

Each side's scores are standardised against that side's own top hits (z = (score − mean) / σ;
the dense side's top STATS_DEPTH, BM25's top LEXICAL_STATS_DEPTH), so a side whose best hits
stand far above the rest (a confident list) moves the fused order more than a side whose scores
are flat, whatever the units (cosine, BM25). Below its floor rank (FLOOR_RANK dense,
LEXICAL_FLOOR_RANK BM25) a side is indifferent: every memory it ranks lower, or not at all, gets
the z of its floor-rank hit, so a memory that one side ranks highly is not pushed down for
being just outside the other side's list. The two contributions are summed, with equal
weights, on the scale of the engine's DBSF (each side's mean ± 3σ mapped to 0..1).

Chosen by measurement (bench/fusion_offline.py: tuned on the LoCoMo development conversations
and the even half of SciFact, checked on the odd half): the engine's DBSF over the top 50
(every memory outside a side's list scored 0 by that side) let a weak dense side pull good
lexical hits down on conversations, LoCoMo R@5 57.1 against keyword alone 57.9; this gives
60.3 (R@10 71.3 against 66.5), and on SciFact nDCG@10 0.737 against 0.735 for DBSF.
RRF (k 1-60), min-max scores, per-list confidence weights and dense pseudo-relevance
feedback were no better on both at once (the note of issue 20 has the table). BM25's own
statistics and floor (LEXICAL_*) came later, below.

Nothing here depends on how many hits were fetched beyond STATS_DEPTH, so pages agree.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

Ranked = list[tuple[str, float]]

# How many hits each side fetches (at least; deeper when a page reaches further), and the dense
# side's top hits whose scores set its mean and σ.
STATS_DEPTH = 50
# The dense side's say ends at this rank: lower (or absent), a memory gets the z of this hit.
FLOOR_RANK = 30
# The BM25 side's mean and σ come from its top 30 and its say ends at its 40th hit. On
# conversations, BM25's tail is memories sharing one common word with the question (a name, a
# verb): counted in the statistics, that flat tail made its top hits' z too large against the
# dense side's. LoCoMo dev R@5 / R@10 60.4 / 70.7 → 62.7 / 71.3 (both conversations gain);
# SciFact nDCG@10 even half 0.7403 → 0.7403, odd half 0.7324 → 0.7314 (bench/fusion_offline.py).
LEXICAL_STATS_DEPTH = 30
LEXICAL_FLOOR_RANK = 40
# z → the DBSF scale: mean − 3σ is 0, mean + 3σ is 1 (not clipped).
_SPREAD = 3.0


def fused_ranking(dense: Ranked, sparse: Ranked) -> Ranked:
    """Both sides' hits, best fused score first; ties by the best rank either side gave, then id.

    When one side has no hits (a query of stopwords only, or no memory with any of its terms)
    the answer is the other side's ranking as it is, scores included.
    """
    if not dense or not sparse:
        return list(dense or sparse)
    sides = [_Side(dense, STATS_DEPTH, FLOOR_RANK), _Side(sparse, LEXICAL_STATS_DEPTH, LEXICAL_FLOOR_RANK)]
    candidates: dict[str, int] = {}
    for side in sides:
        for rank, (memory_id, _) in enumerate(side.ranked):
            candidates[memory_id] = min(rank, candidates.get(memory_id, rank))
    fused = [(memory_id, sum(side.score(memory_id) for side in sides)) for memory_id in candidates]
    fused.sort(key=lambda item: (-item[1], candidates[item[0]], item[0]))
    return fused


class _Side:
    def __init__(self, ranked: Ranked, stats_depth: int, floor_rank: int) -> None:
        self.ranked = ranked
        values = [score for _, score in ranked[:stats_depth]]
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        top = ranked[:floor_rank]
        if spread > 0:
            mean = statistics.fmean(values)
            self.z = {memory_id: (score - mean) / spread for memory_id, score in top}
            self.floor = (top[-1][1] - mean) / spread
        else:
            # One hit, or all scored alike: no distribution to read. Being listed at all is then
            # the whole signal (e.g. the only memories with the query's terms): the top of the
            # DBSF scale for them, its bottom for the rest.
            self.z, self.floor = dict.fromkeys((memory_id for memory_id, _ in top), _SPREAD), -_SPREAD

    def score(self, memory_id: str) -> float:
        return (max(self.z.get(memory_id, self.floor), self.floor) + _SPREAD) / (2 * _SPREAD)


def fused_page(dense: Ranked, sparse: Ranked, *, limit: int, offset: int) -> Ranked:
    return fused_ranking(dense, sparse)[offset : offset + limit]


def candidates_depth(*, limit: int, offset: int) -> int:
    """How many hits each side fetches for this page."""
    return max(STATS_DEPTH, limit + offset)


__all__: Sequence[str] = (
    "FLOOR_RANK",
    "LEXICAL_FLOOR_RANK",
    "LEXICAL_STATS_DEPTH",
    "STATS_DEPTH",
    "candidates_depth",
    "fused_page",
    "fused_ranking",
)
