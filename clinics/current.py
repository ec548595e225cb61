"""The clinic switcher: which of the user's clinics the screens are narrowed to (None = all of them)."""

from otbilling.tenancy import VIEW_PHI, clinics_visible_to

SESSION_KEY = "current_clinic"


def current_clinic(request):
    public_id = request.session.get(SESSION_KEY)
    if not public_id:
        return None
    return clinics_visible_to(request.user, VIEW_PHI).filter(public_id=public_id).first()


def set_current_clinic(request, clinic) -> None:
    if clinic is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = str(clinic.public_id)


def switched_filter_data(request):
    """The GET filters of a worklist, with the clinic switcher's clinic when the form names none."""
    data = request.GET.copy()
    switcher = current_clinic(request)
    if "clinic" not in data and switcher is not None:
        data["clinic"] = str(switcher.public_id)
    return data
