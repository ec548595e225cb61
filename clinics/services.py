"""Write services of the clinics app: grants, tokens, access logging and core records."""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from otbilling.errors import AppError
from otbilling.tenancy import CLINIC_PERMISSIONS, EDIT_SESSIONS, ROLE_PERMISSIONS, Role, user_has_clinic_perm

from .models import AccessLogEntry, ApiToken, Clinic, RoleGrant

User = get_user_model()


def _sync_clinic_perms(*, clinic: Clinic, user) -> None:
    """Make the user's guardian perms on the clinic equal the union of their roles' bundles."""
    wanted = set()
    for role in RoleGrant.objects.filter(clinic=clinic, user=user).values_list("role", flat=True):
        wanted.update(ROLE_PERMISSIONS[role])
    for codename, _label in CLINIC_PERMISSIONS:
        if codename in wanted:
            assign_perm(f"clinics.{codename}", user, clinic)
        else:
            remove_perm(f"clinics.{codename}", user, clinic)


@transaction.atomic
def role_grant(*, clinic: Clinic, user, role: str, acting_user) -> RoleGrant:
    """Give `user` the named role on `clinic`. The grant row is the audit trail (with its history)."""
    if role not in Role.values:
        raise AppError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.", code="unknown_role",
                       field="role")
    grant, _created = RoleGrant.objects.get_or_create(clinic=clinic, user=user, role=role,
                                                      defaults={"granted_by": acting_user})
    _sync_clinic_perms(clinic=clinic, user=user)
    return grant


@transaction.atomic
def role_revoke(*, clinic: Clinic, user, role: str, acting_user) -> None:
    deleted, _ = RoleGrant.objects.filter(clinic=clinic, user=user, role=role).delete()
    if not deleted:
        raise AppError(f"{user} does not hold the role {role} on {clinic}.", code="no_such_grant")
    _sync_clinic_perms(clinic=clinic, user=user)


def _hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, clinic: Clinic, name: str, acting_user) -> tuple[ApiToken, str]:
    """Create a token and its service user (clinic staff on this clinic only); return the raw key once."""
    if not name.strip():
        raise AppError("Give the token a name, e.g. the EHR that will use it.", code="required", field="name")
    raw_key = "otb_" + secrets.token_urlsafe(32)
    service_user = User.objects.create_user(
        username=f"api-{clinic.slug}-{secrets.token_hex(4)}", password=None, first_name="API", last_name=name[:150],
    )
    service_user.set_unusable_password()
    service_user.save()
    token = ApiToken.objects.create(clinic=clinic, name=name.strip(), prefix=raw_key[4:12],
                                    key_sha256=_hash_key(raw_key), service_user=service_user,
                                    created_by=acting_user)
    role_grant(clinic=clinic, user=service_user, role=Role.CLINIC_STAFF, acting_user=acting_user)
    return token, raw_key


@transaction.atomic
def api_token_revoke(*, token: ApiToken, acting_user) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    token.service_user.is_active = False
    token.service_user.save(update_fields=["is_active"])


def api_token_authenticate(raw_key: str) -> ApiToken | None:
    token = (ApiToken.objects.select_related("service_user", "clinic")
             .filter(key_sha256=_hash_key(raw_key or ""), revoked_at__isnull=True).first())
    if token is None or not token.service_user.is_active or not token.clinic.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def _client_ip(request) -> str | None:
    # Behind the production proxy the first X-Forwarded-For hop is the client.
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR") or None


def access_log_record(request, *, action: str, obj=None, object_type: str = "", object_id: str = "",
                      clinic: Clinic | None = None, label: str = "") -> AccessLogEntry:
    """Record a read of PHI. Called by views and API endpoints that show or export patient data."""
    if obj is not None:
        object_type = object_type or obj._meta.model_name
        object_id = object_id or str(getattr(obj, "public_id", obj.pk))
        clinic = clinic or getattr(obj, "clinic", None)
        label = label or str(obj)[:120]
    user = request.user if request.user.is_authenticated else None
    return AccessLogEntry.objects.create(
        user=user, username=user.get_username() if user else "", clinic=clinic, action=action,
        object_type=object_type, object_id=object_id, object_label=label, path=request.get_full_path()[:300],
        ip_address=_client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
    )


@transaction.atomic
def clinic_record_save(*, acting_user, instance, perm: str = EDIT_SESSIONS):
    """Validate and save a patient, coverage, provider, referrer, plan of care or fee row of one clinic."""
    if not user_has_clinic_perm(acting_user, instance.clinic, perm):
        raise AppError("You may not change records of this clinic.", code="forbidden")
    instance.full_clean()
    instance.save()
    return instance


@transaction.atomic
def clinic_create(*, acting_user, clinic: Clinic, owner=None) -> Clinic:
    """Create a tenant (operator admins only) and, when given, grant its owner the clinic-owner role."""
    if not acting_user.is_staff:
        raise AppError("Only operator admins create clinics.", code="forbidden")
    clinic.full_clean()
    clinic.save()
    role_grant(clinic=clinic, user=acting_user, role=Role.OPERATOR_ADMIN, acting_user=acting_user)
    if owner is not None:
        role_grant(clinic=clinic, user=owner, role=Role.CLINIC_OWNER, acting_user=acting_user)
    return clinic
