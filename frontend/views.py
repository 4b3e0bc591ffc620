from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from annotation.selectors import project_list_for_user
from annotation.services import invitation_accept as accept
from core.errors import DomainError


@login_required
def home(request):
    projects = project_list_for_user(user=request.user)
    return render(request, "frontend/home.html", {"projects": projects})


class InvitationForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]{1,150}$", max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


def invitation_accept(request, key: str):
    """Join a project by invitation: logged-in users join as themselves, others choose credentials."""
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and (request.user.is_authenticated or form.is_valid()):
        fields = {"user": request.user} if request.user.is_authenticated else form.cleaned_data
        try:
            membership = accept(key=key, **fields)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            if not request.user.is_authenticated:
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"You joined {membership.project.name} as {membership.role}.")
            return redirect("home")
    return render(request, "frontend/invitation.html", {"form": form}, status=400 if form.errors else 200)
