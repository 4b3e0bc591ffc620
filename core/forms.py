"""Sign-in forms (the login page and the admin's) that refuse an account or address after too many failures."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from core.throttling import (
    client_address,
    sign_in_failure_record,
    sign_in_refusal_message,
    sign_in_success_record,
    sign_in_wait_s,
)


class _ThrottledSignIn:
    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request)
        wait_s = sign_in_wait_s(username=username, address=address)
        if wait_s:
            raise forms.ValidationError(sign_in_refusal_message(wait_s), code="throttled")
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            sign_in_failure_record(username=username, address=address)
            raise
        sign_in_success_record(username=username)
        return cleaned


class SignInForm(_ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(_ThrottledSignIn, AdminAuthenticationForm):
    pass
