"""Signals the memory services send; `vectors` listens. memories imports neither app.

bulk upserts send no post_save, so the services announce them with `memories_upserted`
(keyword arguments `ids`, and `memories`: the rows as stored, when the service has them). Single-row saves and deletes use Django's own post_save/post_delete.
"""

from django.dispatch import Signal

memories_upserted = Signal()
