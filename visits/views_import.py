"""Browser views of the EHR visit import: upload form with recent jobs, job page, HTMX progress fragment.

Jobs are read through `visible_to` (another clinic's job is a 404); the upload goes through
visits.importing, whose refusals are shown beside the form field they name.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from clinics.current import current_clinic
from clinics.models import AccessAction, Clinic
from clinics.services import access_log_record
from clinics.views import editable_current_clinic
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, get_visible_or_404

from . import importing
from .models import ImportJobStatus, VisitImportJob

RECENT_JOBS = 20


class VisitImportForm(forms.Form):
    """Which clinic, which file, and whether good sessions go in when other rows are bad."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), to_field_name="public_id",
                                    empty_label="Choose a clinic")
    file = forms.FileField(label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
                           help_text="EHR export, one row per service line, UTF-8, at most 5 MB.")
    import_valid_rows = forms.BooleanField(
        required=False, label="Import valid rows",
        help_text="Import the sessions whose rows are all good even if other rows are bad. Without it, one bad "
                  "row rejects the whole file and nothing is imported.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, EDIT_SESSIONS)


def _default_clinic(request):
    clinic = editable_current_clinic(request)
    if clinic is None:
        clinics = list(clinics_visible_to(request.user, EDIT_SESSIONS)[:2])
        clinic = clinics[0] if len(clinics) == 1 else None
    return clinic


@login_required
def visit_import(request):
    """Upload an EHR export (GET shows the form and the recent jobs of the user's clinics)."""
    form = VisitImportForm(request.POST or None, request.FILES or None, user=request.user,
                           initial={"clinic": _default_clinic(request)})
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = importing.visit_import_job_create(
                acting_user=request.user, clinic=form.cleaned_data["clinic"], file_name=upload.name,
                content_bytes=upload.read(importing.MAX_FILE_BYTES + 1),  # one byte over is enough to refuse
                import_valid_rows=form.cleaned_data["import_valid_rows"],
            )
        except AppError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"{job.file_name} uploaded; the import runs in the background.")
            return redirect("visit-import-job", public_id=job.public_id)
    jobs = (VisitImportJob.objects.visible_to(request.user, VIEW_PHI, clinic=current_clinic(request))
            .select_related("clinic", "uploaded_by").defer("content")[:RECENT_JOBS])
    return render(request, "visits/import_upload.html", {
        "form": form, "jobs": jobs, "can_import": form.fields["clinic"].queryset.exists(),
        "columns": importing.COLUMNS, "required_columns": importing.REQUIRED_COLUMNS,
    })


def _visible_job(request, public_id):
    return get_visible_or_404(VisitImportJob.objects.select_related("clinic", "uploaded_by"), request.user, VIEW_PHI,
                              public_id=public_id)


def _job_context(job):
    return {"job": job, "polling": job.status in (ImportJobStatus.QUEUED, ImportJobStatus.RUNNING),
            "saving": job.status == ImportJobStatus.RUNNING and job.total_rows
            and job.processed_rows >= job.total_rows,
            # "import valid rows" helps only when rows (not the header or the file itself) were bad.
            "row_errors": any((error.get("row") or 0) > 1 for error in job.errors)}


@login_required
@require_GET
def visit_import_job(request, public_id):
    """One import: its progress bar while it runs, then the result or the table of bad rows."""
    job = _visible_job(request, public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=job)  # the error table names MRNs
    return render(request, "visits/import_job.html", _job_context(job))


@login_required
@require_GET
def visit_import_progress(request, public_id):
    """HTMX fragment polled every second while the job is queued or running; without the trigger once done."""
    job = _visible_job(request, public_id)
    return render(request, "visits/_import_progress.html", _job_context(job))
