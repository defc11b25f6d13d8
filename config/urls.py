from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.http import require_http_methods

from config import admin as _user_admin  # noqa: F401  # before admin.site.urls below
from config.accounts import ThrottledPasswordChangeView

# Django's form views would also answer PUT and PATCH; only GET and POST mean anything here.
get_or_post = require_http_methods(["GET", "POST"])

urlpatterns = [
    path("admin/", admin.site.urls),
    # Accounts: no sign-up and no e-mail reset; managers and admins create accounts.
    path(
        "accounts/login/",
        get_or_post(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        get_or_post(ThrottledPasswordChangeView.as_view()),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        require_http_methods(["GET"])(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("", include("annotations.urls")),
]

# Styled error pages that keep the reason a view gave (see config/views.py).
handler403 = "config.views.permission_denied"
handler404 = "config.views.page_not_found"
handler500 = "config.views.server_error"
