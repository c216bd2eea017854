"""/moderation/…: every page and action here is for the moderators group alone."""

from django.urls import path, re_path

from . import moderation_views as views

app_name = "moderation"

UID = r"(?P<uid>[0-9a-f]{1,32})"

urlpatterns = [
    path("", views.queue, name="queue"),
    re_path(rf"^voters/{UID}/$", views.voter_detail, name="voter"),
    re_path(rf"^clips/{UID}/$", views.clip_detail, name="clip"),
    re_path(rf"^clips/{UID}/(?P<kind>silent|sound|poster)$", views.clip_media, name="clip-media"),
    path("audit/", views.audit_log, name="audit"),
    path("actions/", views.act, name="act"),
]
