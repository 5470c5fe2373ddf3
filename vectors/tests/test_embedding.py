from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from vectors.embedding import (
    DIMENSION,
    Embedder,
    EmbeddingError,
    default_model_file,
    default_tokenizer_file,
    get_embedder,
    model_name_for,
    quantized_model_file,
)

T = TypeVar("T")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder()


def test_reference_pair_matches_sentence_transformers(embedder: Embedder) -> None:
    a, b = embedder.embed(["A man is eating food.", "A man is eating a piece of bread."])

    assert float(a @ b) == pytest.approx(0.755, abs=0.01)


def test_vectors_are_float32_unit_norm(embedder: Embedder) -> None:
    vectors = embedder.embed(["first", "second text", "a third, longer piece of text"])

    assert vectors.shape == (3, DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batch_equals_one_by_one_and_keeps_input_order(embedder: Embedder) -> None:
    texts = [
        "A considerably longer sentence, so that sorting by length moves it to the end of the batch.",
        "short",
        "",
        "medium length sentence here",
    ]

    batch = embedder.embed(texts, batch_size=2)
    single = np.stack([embedder.embed([text])[0] for text in texts])

    np.testing.assert_allclose(batch, single, atol=1e-5)


def test_similar_texts_rank_above_unrelated(embedder: Embedder) -> None:
    query, close, far = embedder.embed(["How do I bake bread?", "Bread baking recipe", "Quarterly tax filing"])

    assert query @ close > query @ far


@pytest.mark.parametrize("text", ["", " ", "\n\t", "!!!", "🙂"])
def test_empty_ish_texts_give_finite_unit_vectors(embedder: Embedder, text: str) -> None:
    (vector,) = embedder.embed([text])

    assert np.isfinite(vector).all()
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_long_text_is_truncated_at_256_tokens(embedder: Embedder) -> None:
    long_text = " ".join(f"word{i}" for i in range(2000))

    base, extended = embedder.embed([long_text, long_text + " and an entirely different ending"])

    np.testing.assert_allclose(base, extended, atol=1e-6)


def test_empty_input_gives_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_a_bare_string_is_refused(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")  # type: ignore[arg-type]


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """`work(i)` in `count` threads released together; every thread's result (or its exception)."""
    start = threading.Barrier(count)

    def run(index: int) -> T:
        start.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, index) for index in range(count)]
        return [future.result(timeout=120) for future in futures]


def test_get_embedder_is_a_process_wide_singleton() -> None:
    seen = in_threads(4, lambda _: get_embedder())

    assert len(seen) == 4
    assert all(embedder is get_embedder() for embedder in seen)


def test_concurrent_embedding_gives_the_same_vectors(embedder: Embedder) -> None:
    texts = [f"memory number {i} about topic {i % 7}" for i in range(40)]
    expected = embedder.embed(texts)

    results = in_threads(4, lambda _: embedder.embed(texts, batch_size=8))

    assert len(results) == 4
    for result in results:
        np.testing.assert_allclose(result, expected, atol=1e-6)


def test_model_dir_override(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "model.onnx").symlink_to(default_model_file())
    (tmp_path / "tokenizer.json").symlink_to(default_tokenizer_file())

    custom = Embedder(model_dir=tmp_path)

    np.testing.assert_allclose(custom.embed(["hello"]), embedder.embed(["hello"]), atol=1e-6)


def test_model_dir_without_files_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match=r"model\.onnx"):
        Embedder(model_dir=tmp_path)


# --- the int8 model (the default: SOMA_EMBEDDING_QUANTIZE) ----------------------------------

REFERENCE = ["A man is eating food.", "A man is eating a piece of bread."]


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def int8_embedder(int8_dir: Path) -> Embedder:
    return Embedder(quantize_into=int8_dir)


def test_the_int8_model_is_built_once_and_reused(int8_embedder: Embedder, int8_dir: Path) -> None:
    (built,) = int8_dir.glob("minilm-qint8-*.onnx")
    stamp = built.stat().st_mtime_ns

    again = quantized_model_file(default_model_file(), int8_dir)

    assert again == built
    assert built.stat().st_mtime_ns == stamp
    assert not list(int8_dir.glob(".build-*"))  # the work folder is gone
    assert int8_embedder.model_file == built


def test_the_int8_model_runs_int8_matrix_products(int8_embedder: Embedder) -> None:
    # The packaged model computes in float32; the built one must not (that is its point).
    graph = int8_embedder.model_file.read_bytes()
    assert b"MatMulInteger" in graph or b"DynamicQuantizeMatMul" in graph
    assert b"MatMulInteger" not in default_model_file().read_bytes()


def test_the_int8_model_keeps_the_reference_and_the_float_vectors(embedder: Embedder, int8_embedder: Embedder) -> None:
    a, b = int8_embedder.embed(REFERENCE)
    texts = [
        "The cat sat on the mat.",
        "Vitamin D deficiency is associated with tuberculosis.",
        "Quarterly revenue grew by twelve percent, driven by the new subscription tier.",
        "Remind me to call the dentist on Tuesday morning.",
    ]
    agreement = np.sum(embedder.embed(texts) * int8_embedder.embed(texts), axis=1)

    assert float(a @ b) == pytest.approx(0.755, abs=0.01)
    assert agreement.min() > 0.97


def test_the_int8_model_has_its_own_name() -> None:
    # Its vectors differ from the float model's: another collection, another vector_model.
    assert model_name_for(model_dir=None, quantize=True) == "all-MiniLM-L6-v2-qint8"
    assert model_name_for(model_dir=None, quantize=False) == "all-MiniLM-L6-v2"
    assert model_name_for(model_dir=Path("/models/custom"), quantize=True) == "all-MiniLM-L6-v2"


def test_an_unusable_cache_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")

    with pytest.raises(EmbeddingError, match="cannot build the int8 model"):
        Embedder(quantize_into=blocked)
