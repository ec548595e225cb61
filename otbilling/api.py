"""API plumbing shared by every app's viewsets."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from otbilling.errors import AppError


def exception_handler(exc, context):
    """AppError and model validation errors become 400 with a stable code, never a 500."""
    if isinstance(exc, AppError):
        return Response({"error": exc.as_dict()}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response({"error": {"code": "invalid", "fields": detail}}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
