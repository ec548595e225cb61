"""DRF authentication by per-clinic API token: `Authorization: Token otb_...`."""

from rest_framework import authentication, exceptions

from .services import api_token_authenticate


class ClinicTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(self.keyword + " "):
            return None
        token = api_token_authenticate(header[len(self.keyword) + 1:].strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return token.service_user, token

    def authenticate_header(self, request):
        return self.keyword
