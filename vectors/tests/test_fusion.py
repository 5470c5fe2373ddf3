"""vectors.fusion: how the dense and BM25 rankings become the hybrid order (pure functions)."""

from __future__ import annotations

from vectors.fusion import LEXICAL_FLOOR_RANK, STATS_DEPTH, candidates_depth, fused_page, fused_ranking


def ranking(prefix: str, scores: list[float]) -> list[tuple[str, float]]:
    return [(f"{prefix}{i}", score) for i, score in enumerate(scores)]


def test_a_side_whose_best_hit_stands_out_outweighs_a_flat_side() -> None:
    # The dense side is flat (a weak signal); BM25 has one hit far above its others.
    dense = ranking("d", [0.50 - 0.001 * i for i in range(40)])
    sparse = [("s0", 12.0), *ranking("x", [2.0 - 0.01 * i for i in range(39)])]

    fused = fused_ranking(dense, sparse)

    assert fused[0][0] == "s0"
    assert {memory_id for memory_id, _ in fused} == {m for m, _ in dense} | {m for m, _ in sparse}


def test_a_memory_both_sides_rank_well_comes_first() -> None:
    dense = [*ranking("d", [0.9, 0.8, 0.7, 0.6, 0.5]), ("both", 0.85)]
    dense.sort(key=lambda item: -item[1])
    sparse = [("both", 9.0), *ranking("s", [9.5, 3.0, 2.0, 1.0])]
    sparse.sort(key=lambda item: -item[1])

    assert fused_ranking(dense, sparse)[0][0] == "both"


def test_below_the_floor_rank_a_side_is_indifferent() -> None:
    # Ranked 41st by BM25 or not at all: the same say from BM25, so the dense order decides.
    dense = [("a", 0.9), ("b", 0.8), *ranking("d", [0.5 - 0.001 * i for i in range(48)])]
    sparse = [*ranking("s", [10.0 - 0.1 * i for i in range(LEXICAL_FLOOR_RANK)]), ("b", 1.0), *ranking("t", [0.5] * 9)]

    order = [memory_id for memory_id, _ in fused_ranking(dense, sparse)]

    assert order.index("a") < order.index("b")


def test_with_one_side_empty_the_other_side_is_the_answer_as_it_is() -> None:
    dense = ranking("d", [0.9, 0.7, 0.2])

    assert fused_ranking(dense, []) == dense
    assert fused_ranking([], dense) == dense
    assert fused_ranking([], []) == []


def test_a_single_hit_side_still_votes() -> None:
    dense = ranking("d", [0.61, 0.60, 0.59, 0.58])
    sparse = [("d3", 4.2)]

    assert fused_ranking(dense, sparse)[0][0] == "d3"


def test_pages_agree_whatever_the_depth_fetched() -> None:
    dense = ranking("d", [1.0 - 0.01 * i for i in range(120)])
    sparse = ranking("d", [5.0 - 0.04 * i for i in range(0, 240, 2)])
    deep = fused_ranking(dense, sparse)

    first = fused_page(dense[:STATS_DEPTH], sparse[:STATS_DEPTH], limit=10, offset=0)
    later = fused_page(dense[:70], sparse[:70], limit=10, offset=60)

    assert first == deep[:10]
    assert later == deep[60:70]
    assert candidates_depth(limit=10, offset=60) == 70
    assert candidates_depth(limit=5, offset=0) == STATS_DEPTH


def test_ties_are_broken_by_best_rank_then_id() -> None:
    dense = [("b", 0.5), ("a", 0.5)]
    sparse = [("c", 1.0), ("d", 1.0)]

    # Every score equal on each side: each listed hit gets the top of its side's scale, so all four tie.
    assert [memory_id for memory_id, _ in fused_ranking(dense, sparse)] == ["b", "c", "a", "d"]
