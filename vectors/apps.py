from django.apps import AppConfig


class VectorsConfig(AppConfig):
    name = "vectors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from memories.dedupe import semantic_finder_register
        from vectors.selectors import memory_duplicates_semantic

        # memories imports no vectors code: the semantic dedupe search is handed to it here.
        semantic_finder_register(memory_duplicates_semantic)
        from vectors import (
            metrics,  # noqa: F401  (exported from the first scrape, before any use)
            signals,  # noqa: F401  (connects the receivers that index after commit)
        )
