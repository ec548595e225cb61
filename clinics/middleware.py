"""Idle-session timeout: 15 minutes without a request logs the user out (HIPAA automatic logoff)."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout

LAST_SEEN_KEY = "last_seen"


class IdleTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN_KEY, now)
            if now - last_seen > settings.IDLE_TIMEOUT_SECONDS:
                logout(request)
                messages.info(request, "You were logged out after 15 minutes without activity.")
            else:
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)
