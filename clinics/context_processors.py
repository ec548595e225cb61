from otbilling.tenancy import MANAGE_CLINIC, VIEW_PHI, VIEW_REPORTS, WORK_CLAIMS, clinics_visible_to

from .current import current_clinic


def navigation(request):
    """What the base layout needs: the user's clinics, the switcher's choice and which menus to show."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    clinics = list(clinics_visible_to(user, VIEW_PHI))
    return {
        "nav_clinics": clinics,
        "nav_current_clinic": current_clinic(request),
        "nav_can_work_claims": clinics_visible_to(user, WORK_CLAIMS).exists(),
        "nav_can_view_reports": clinics_visible_to(user, VIEW_REPORTS).exists(),
        "nav_can_manage": clinics_visible_to(user, MANAGE_CLINIC).exists(),
        "nav_is_operator": user.is_staff,
    }
