"""Settings, API tokens: clinic managers create and revoke the integration tokens of the clinics they manage."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from otbilling.errors import AppError
from otbilling.tenancy import MANAGE_CLINIC, clinics_visible_to, get_visible_or_404

from .models import ApiToken, Clinic
from .services import api_token_create, api_token_revoke


class ApiTokenForm(forms.Form):
    """New token: one of the clinics the user manages (by slug, never by integer key) and a name."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), to_field_name="slug", empty_label=None)
    name = forms.CharField(max_length=60, help_text="What will use it, e.g. the EHR's name.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, MANAGE_CLINIC)


@never_cache  # the response to a create holds the raw key: no browser or proxy may keep it
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    """List the managed clinics' tokens; on POST create one and show its key this one time."""
    if not clinics_visible_to(request.user, MANAGE_CLINIC).exists():
        raise PermissionDenied("Only clinic managers handle API tokens.")
    form = ApiTokenForm(request.POST or None, user=request.user)
    new_token = new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            new_token, new_key = api_token_create(clinic=form.cleaned_data["clinic"], name=form.cleaned_data["name"],
                                                  acting_user=request.user)
        except AppError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            form = ApiTokenForm(user=request.user)
    tokens = ApiToken.objects.visible_to(request.user, MANAGE_CLINIC).select_related("clinic", "created_by")
    return render(request, "clinics/api_tokens.html",
                  {"form": form, "tokens": tokens, "new_token": new_token, "new_key": new_key})


@login_required
@require_POST
def api_token_revoke_view(request, public_id):
    """Revoke a token of a managed clinic; another clinic's token is a 404."""
    token = get_visible_or_404(ApiToken, request.user, MANAGE_CLINIC, public_id=public_id)
    if token.revoked_at:
        messages.info(request, f"The token “{token.name}” was already revoked.")
    else:
        api_token_revoke(token=token, acting_user=request.user)
        messages.success(request, f"The token “{token.name}” is revoked; requests using it are now refused.")
    return redirect("api-tokens")
