"""The appeal letter: an HTML page rendered to PDF by WeasyPrint.

Page 1 is the letter on the clinic's letterhead to the payer: the patient, member id, our claim number and the
payer's (ICN), dates of service, each denied line with its CARC/RARC in words, and our argument. The pages after it
are the attachments a reviewer needs to reverse a denial: each signed treatment note (its text, who signed it,
when) and the plan of care (dates, certification, goals). Nothing is fetched from the network while rendering.
"""

import datetime
import hashlib
import zoneinfo

from django.template.loader import render_to_string
from django.utils import timezone

from visits.models import PlanOfCare, VisitStatus

from .carc import carc_info, group_label, rarc_text

TEMPLATE = "denials/appeal_letter.html"


def _clinic_zone(clinic):
    try:
        return zoneinfo.ZoneInfo(clinic.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def _denied_lines(denial):
    # A claim-level denial (no line) refuses every line of the claim.
    if denial.claim_line_id:
        return [denial.claim_line]
    return list(denial.claim.lines.select_related("visit").order_by("position"))


def _notes(lines, zone) -> list[dict]:
    visits, seen = [], set()
    for line in sorted(lines, key=lambda ln: (ln.date_of_service, ln.position)):
        visit = line.visit
        if visit.pk in seen or visit.status != VisitStatus.SIGNED:
            continue
        seen.add(visit.pk)
        codes = [ln.cpt for ln in lines if ln.visit_id == visit.pk]
        visits.append({"visit": visit, "provider": visit.rendering_provider, "codes": codes,
                       "signed_at": timezone.localtime(visit.signed_at, zone) if visit.signed_at else None})
    return visits


def _plans_of_care(claim, lines) -> list[PlanOfCare]:
    plans = {line.visit.plan_of_care_id: line.visit.plan_of_care for line in lines if line.visit.plan_of_care_id}
    if not plans:  # a visit not linked to its plan: the plan certified on the date of service is the one
        found = (PlanOfCare.objects.filter(clinic_id=claim.clinic_id, patient_id=claim.patient_id,
                                           start_date__lte=claim.service_date_to,
                                           certified_through__gte=claim.service_date_from)
                 .order_by("-start_date").first())
        if found is not None:
            plans[found.pk] = found
    return sorted(plans.values(), key=lambda plan: plan.start_date)


def appeal_letter_data(*, denial, argument: str, author=None, today: datetime.date | None = None) -> dict:
    """Everything the letter shows, gathered from the denial, its claim and the claim's visits."""
    claim = denial.claim
    clinic = claim.clinic
    zone = _clinic_zone(clinic)
    lines = _denied_lines(denial)
    info = carc_info(denial.carc)
    return {
        "today": today or timezone.localdate(),
        "clinic": clinic, "claim": claim, "patient": claim.patient, "coverage": claim.coverage, "payer": claim.payer,
        "provider": claim.rendering_provider, "denial": denial, "lines": lines,
        "carc": info, "group_text": group_label(denial.group_code) if denial.group_code else "",
        "remarks": [(code, rarc_text(code)) for code in denial.rarcs],
        "argument": argument.strip(),
        "author_name": (author.get_full_name() or author.get_username()) if author is not None else "Billing office",
        "notes": _notes(lines, zone), "plans": _plans_of_care(claim, lines),
    }


def _data_of_appeal(appeal) -> dict:
    return appeal_letter_data(denial=appeal.denial, argument=appeal.argument, author=appeal.created_by,
                              today=timezone.localdate(appeal.created_at) if appeal.created_at else None)


def _refuse_fetch(url, *args, **kwargs):
    raise ValueError(f"the appeal letter loads nothing from outside ({url})")


def appeal_letter_pdf(appeal_or_data) -> bytes:
    """The letter as PDF bytes, from an Appeal (its denial and argument) or from appeal_letter_data()."""
    from weasyprint import HTML

    data = appeal_or_data if isinstance(appeal_or_data, dict) else _data_of_appeal(appeal_or_data)
    html = render_to_string(TEMPLATE, data)
    return HTML(string=html, base_url=None, url_fetcher=_refuse_fetch).write_pdf()


def letter_sha256(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()
