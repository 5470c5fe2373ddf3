"""Build the embedded vector engine's search index offline (int8 quantization + HNSW per tenant and namespace).

The engine's optimize() holds Python's GIL for its whole run, so it must never run inside the
serving process; the server also locks the store's folder. Stop the server, run this, start it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.management import DatabaseErrorsExplained
from vectors.backend import embedding_model_name, reset_vector_store
from vectors.management.commands._common import store_error
from vectors.stores.base import VectorStoreError
from vectors.stores.edge import EdgeStore


class Command(DatabaseErrorsExplained, BaseCommand):
    help = "Build the embedded vector engine's index offline (stop the server first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-hnsw",
            action="store_true",
            help="only the int8 quantized vectors, no HNSW graphs (faster to build)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.SOMA_VECTOR_STORE != "edge":
            raise CommandError("Only the embedded engine needs this: a Qdrant server builds its own index.")
        reset_vector_store(None)  # this process must not hold the folder itself
        store = EdgeStore(
            Path(settings.SOMA_DATA_DIR) / "qdrant", model_name=embedding_model_name(), hnsw=not options["no_hnsw"]
        )
        started = time.perf_counter()
        try:
            store.ensure_collection()
            self.stderr.write(f"building the index of {store.count()} points in {store.collection_name} ...")
            store.build_index()
            info = store.info()
        except VectorStoreError as exc:
            raise store_error(exc) from exc
        finally:
            store.close()
        elapsed = time.perf_counter() - started
        details = ", ".join(f"{key} {value}" for key, value in info.items())
        self.stdout.write(self.style.SUCCESS(f"Vector index built in {elapsed:.1f} s: {details}"))
