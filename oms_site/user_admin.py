"""The console's user pages: Django's, plus whether two-factor sign-in is on and a superuser's reset."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django_otp import user_has_device

from . import two_factor

User = get_user_model()


class StaffUserAdmin(UserAdmin):
    list_display = (*UserAdmin.list_display, "two_factor")
    actions = ["reset_two_factor"]

    @admin.display(description="two-factor", boolean=True)
    def two_factor(self, user) -> bool:
        return user_has_device(user)

    @admin.action(description="Reset two-factor sign-in (they set it up again at next sign-in)", permissions=["reset"])
    def reset_two_factor(self, request, queryset):
        for user in queryset.order_by("pk"):
            removed = two_factor.reset(user)
            self.message_user(
                request,
                f"Two-factor sign-in of {user.get_username()} reset ({removed} device(s) removed).",
                messages.SUCCESS,
            )

    def has_reset_permission(self, request) -> bool:
        return request.user.is_superuser


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
