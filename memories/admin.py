from django.contrib import admin

from memories.models import Memory


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ["coord_key", "memory_type", "tenant", "namespace", "importance", "vector_status", "created_at"]
    list_filter = ["tenant", "namespace", "memory_type", "vector_status"]
    show_full_result_count = False
