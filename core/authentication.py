"""Personal API tokens: `Authorization: Bearer <key>` (or `Token <key>`)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from core.models import ApiToken
from core.selectors import api_token_live
from core.services import api_token_digest
from core.throttling import client_address, sign_in_failure_record, sign_in_refusal_message, sign_in_wait_s

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most once a minute per token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in self.keywords:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be '<Bearer|Token> <key>'.")
        key = parts[1].decode("latin-1")
        # Guessing tokens counts as failed sign-ins from the address, refused past the same limit.
        address = client_address(request)
        if wait_s := sign_in_wait_s(username=None, address=address):
            raise exceptions.Throttled(
                wait=wait_s,
                detail=sign_in_refusal_message(wait_s, what="sign-ins or API tokens", source="this address"),
            )
        token = api_token_live(digest=api_token_digest(key))
        if token is None or not token.user.is_active:
            sign_in_failure_record(username=None, address=address)
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
