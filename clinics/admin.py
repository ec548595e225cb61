"""Django admin for operator admins: tenants, payers, role grants and the (read-only) PHI access log.

Patients, coverages, visits and other PHI are deliberately not registered: the admin bypasses the tenancy
scope, so PHI is only reachable through the scoped views. Writes with side effects go through the services.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from otbilling.errors import AppError

from .models import AccessLogEntry, Clinic, Payer, RoleGrant
from .services import clinic_create, role_grant, role_revoke


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ("legal_name", "slug", "billing_npi", "city", "state", "is_active", "created_at")
    list_filter = ("is_active", "state")
    search_fields = ("legal_name", "slug", "billing_npi")
    readonly_fields = ("public_id", "created_at")
    prepopulated_fields = {"slug": ("legal_name",)}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new tenant goes through the service: it grants the creating operator the operator-admin role.
        try:
            clinic_create(acting_user=request.user, clinic=obj)
        except AppError as exc:
            raise PermissionDenied(exc.message) from exc

    def has_delete_permission(self, request, obj=None):
        return False  # tenants are deactivated (is_active), never deleted: their rows are PROTECTed


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ("name", "payer_id", "kind", "claim_filing_indicator", "unit_method", "is_active")
    list_filter = ("kind", "unit_method", "is_active")
    search_fields = ("name", "payer_id")
    readonly_fields = ("public_id",)


@admin.register(RoleGrant)
class RoleGrantAdmin(admin.ModelAdmin):
    """Grants are created and revoked through the services so the guardian permissions stay in sync."""

    list_display = ("user", "role", "clinic", "granted_by", "granted_at")
    list_filter = ("role", "clinic")
    search_fields = ("user__username", "user__email", "clinic__legal_name")
    readonly_fields = ("granted_by", "granted_at")
    fields = ("clinic", "user", "role", "granted_by", "granted_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            # A grant is changed by revoking it and granting another role, never edited in place.
            return ("clinic", "user", "role", "granted_by", "granted_at")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing editable on an existing grant
        grant = role_grant(clinic=obj.clinic, user=obj.user, role=obj.role, acting_user=request.user)
        obj.pk, obj.granted_by, obj.granted_at = grant.pk, grant.granted_by, grant.granted_at

    def delete_model(self, request, obj):
        role_revoke(clinic=obj.clinic, user=obj.user, role=obj.role, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for grant in queryset.select_related("clinic", "user"):
            try:
                role_revoke(clinic=grant.clinic, user=grant.user, role=grant.role, acting_user=request.user)
            except AppError as exc:
                self.message_user(request, exc.message, level=messages.WARNING)


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(admin.ModelAdmin):
    """Append-only: viewable and searchable, never added, changed or deleted."""

    list_display = ("at", "username", "clinic", "action", "object_type", "object_label", "ip_address")
    list_filter = ("action", "object_type", "clinic", ("at", admin.DateFieldListFilter))
    search_fields = ("username", "object_id", "object_label", "path", "ip_address")
    date_hierarchy = "at"
    list_select_related = ("clinic",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
