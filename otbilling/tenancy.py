"""The one way in to clinic data.

Every clinic-owned model uses `ClinicScopedQuerySet`; every read of clinic data starts with
`Model.objects.visible_to(user, perm)`. Permissions are django-guardian object permissions held on the
Clinic row, granted in named bundles (roles) by `clinics.services.role_grant`.
"""

from django.apps import apps
from django.db import models
from django.http import Http404

# Per-clinic permissions (declared on Clinic.Meta.permissions).
VIEW_PHI = "view_phi"
EDIT_SESSIONS = "edit_sessions"
WORK_CLAIMS = "work_claims"
WRITE_OFF = "write_off"
VIEW_REPORTS = "view_reports"
MANAGE_CLINIC = "manage_clinic"

CLINIC_PERMISSIONS = (
    (VIEW_PHI, "Read patients, sessions, coverages and claims"),
    (EDIT_SESSIONS, "Enter and import patients, coverages, providers and sessions"),
    (WORK_CLAIMS, "Code, scrub, bill and work claims and denials"),
    (WRITE_OFF, "Write off balances"),
    (VIEW_REPORTS, "See dashboards, KPIs and monthly reports"),
    (MANAGE_CLINIC, "Manage the clinic's settings, fee schedules, API tokens and user grants"),
)


class Role(models.TextChoices):
    OPERATOR_ADMIN = "operator_admin", "Operator admin"
    BILLER = "biller", "Biller"
    CLINIC_OWNER = "clinic_owner", "Clinic owner"
    CLINIC_STAFF = "clinic_staff", "Clinic staff"


ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.OPERATOR_ADMIN: (VIEW_PHI, EDIT_SESSIONS, WORK_CLAIMS, WRITE_OFF, VIEW_REPORTS, MANAGE_CLINIC),
    Role.BILLER: (VIEW_PHI, EDIT_SESSIONS, WORK_CLAIMS, WRITE_OFF, VIEW_REPORTS),
    Role.CLINIC_OWNER: (VIEW_PHI, EDIT_SESSIONS, VIEW_REPORTS),
    Role.CLINIC_STAFF: (VIEW_PHI, EDIT_SESSIONS),
}


def clinics_visible_to(user, perm: str = VIEW_PHI):
    """Active clinics on which `user` holds `perm` through a grant. Superusers get no implicit access."""
    from guardian.shortcuts import get_objects_for_user

    clinic_model = apps.get_model("clinics", "Clinic")
    if user is None or not user.is_authenticated or not user.is_active:
        return clinic_model.objects.none()
    return get_objects_for_user(
        user, f"clinics.{perm}", klass=clinic_model.objects.filter(is_active=True),
        accept_global_perms=False, with_superuser=False,
    )


def require_perm_on_some_clinic(user, perm: str, message: str) -> None:
    """403 for a page that lists data across clinics when the user holds `perm` on none of them."""
    from django.core.exceptions import PermissionDenied

    if not clinics_visible_to(user, perm).exists():
        raise PermissionDenied(message)


def user_has_clinic_perm(user, clinic, perm: str) -> bool:
    return clinics_visible_to(user, perm).filter(pk=clinic.pk).exists()


class ClinicScopedQuerySet(models.QuerySet):
    """Queryset of clinic-owned rows; `visible_to` is the only sanctioned way to read them."""

    def visible_to(self, user, perm: str = VIEW_PHI, clinic=None):
        """Rows of clinics where `user` holds `perm`; narrowed to `clinic` when given (e.g. the switcher)."""
        clinics = clinics_visible_to(user, perm)
        if clinic is not None:
            clinics = clinics.filter(pk=clinic.pk)
        if self.model._meta.label == "clinics.Clinic":
            return self.filter(pk__in=clinics.values("pk"))
        return self.filter(clinic__in=clinics.values("pk"))


def get_visible_or_404(queryset_or_model, user, perm: str = VIEW_PHI, **lookup):
    """Fetch one clinic-owned object through the scope; another clinic's object is a 404, never a 403."""
    queryset = queryset_or_model
    if isinstance(queryset_or_model, type):
        queryset = queryset_or_model.objects.all()
    try:
        return queryset.visible_to(user, perm).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from exc


def resolve_in_clinic(model, user, clinic, perm: str = VIEW_PHI, *, field: str, **lookup):
    """Resolve a foreign key from user input through the scope: another clinic's row does not exist."""
    from otbilling.errors import AppError

    try:
        return model.objects.visible_to(user, perm, clinic=clinic).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError) as exc:
        name = model._meta.verbose_name
        raise AppError(f"No such {name} in this clinic.", code="not_found", field=field) from exc
