"""API keys in the admin: list, filter, revoke; the secret is shown once, at creation."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiKey
from accounts.services import api_key_create, api_key_rename, api_key_revoke
from core.errors import ServiceError
from core.tenancy import NAME_PATTERN


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class ApiKeyCreateForm(forms.ModelForm):
    tenant = forms.RegexField(
        regex=NAME_PATTERN, max_length=64, help_text="The only tenant this key may act for: 1-64 of [A-Za-z0-9_.-]."
    )

    class Meta:
        model = ApiKey
        fields = ["tenant", "name"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["key_id", "tenant", "name", "is_active", "created_at", "last_used_at", "revoked_at"]
    list_filter = [ApiKeyStateFilter, "tenant", "created_at", "last_used_at"]
    search_fields = ["key_id", "tenant", "name"]
    ordering = ["tenant", "-created_at"]
    actions = ["revoke_keys"]
    # secret_hash is never shown: it is not listed in any field set.
    readonly_fields = ["key_id", "tenant", "created_at", "last_used_at", "revoked_at"]
    fields = ["key_id", "tenant", "name", "created_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return ["tenant", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        # A key's tenant is fixed: moving it would grant its holder another tenant's data.
        return [] if obj is None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: forms.ModelForm, change: bool) -> None:
        if change:
            api_key_rename(api_key=obj, name=obj.name)
            return
        issued = api_key_create(tenant=obj.tenant, name=obj.name)
        # The admin redirects to the saved object: hand it the row the service created.
        obj.pk = issued.api_key.pk
        obj.key_id = issued.api_key.key_id
        obj.created_at = issued.api_key.created_at
        self.message_user(
            request,
            f"API key for tenant {issued.api_key.tenant!r} created. Copy it now, it will not be shown again: "
            f"{issued.token}",
            level=messages.WARNING,
        )

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        # Keys are revoked, not deleted, so their history (tenant, last use) stays visible.
        return False

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            try:
                api_key_revoke(api_key=api_key)
            except ServiceError as exc:
                self.message_user(request, f"{api_key.key_id}: {exc.detail}", level=messages.ERROR)
                continue
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", level=messages.SUCCESS)
