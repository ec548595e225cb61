from django.urls import path

from . import views_tokens

urlpatterns = [
    path("settings/api-tokens/", views_tokens.api_tokens, name="api-tokens"),
    path("settings/api-tokens/<uuid:public_id>/revoke/", views_tokens.api_token_revoke_view, name="api-token-revoke"),
]
