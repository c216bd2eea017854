from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from votes import datasets_views

from . import api, hotpath, leaderboard_api, leaderboard_views, sampling_api, views

# Any token shape reaches the views, so that a malformed one gets the same JSON 404.
TOKEN = r"(?P<token>[^/]+)"

urlpatterns = [
    # Nearly every request is one of these two: first, so resolving them tries no other
    # pattern. Answered by arena.hotpath, which hands anything out of the ordinary to the
    # DRF views.
    path("api/v1/battles/", hotpath.battle_create, name="api-battles"),
    re_path(rf"^api/v1/battles/{TOKEN}/vote/$", hotpath.vote_create, name="api-vote"),
    path("", views.home, name="home"),
    path("vote/<str:arena>/", views.vote_page, name="vote"),
    re_path(
        rf"^b/{TOKEN}/(?P<side>[ab])\.(?P<ext>mp4|jpg)$", views.battle_media, name="battle-media"
    ),
    re_path(r"^media/inputs/(?P<name>[A-Za-z0-9_-]+\.png)$", views.input_image, name="input-image"),
    path("leaderboard/", leaderboard_views.leaderboard_index, name="leaderboard-index"),
    path("leaderboard/mine/", leaderboard_views.my_leaderboard, name="my-leaderboard"),
    path("leaderboard/<str:arena>/<str:mode>/", leaderboard_views.leaderboard, name="leaderboard"),
    re_path(
        r"^leaderboard/(?P<arena>[a-z-]+)/(?P<mode>[a-z-]+)/board\.(?P<fmt>csv|json)$",
        leaderboard_views.leaderboard_download,
        name="leaderboard-download",
    ),
    path(
        "api/v1/leaderboards/",
        leaderboard_api.LeaderboardListApi.as_view(),
        name="api-leaderboards",
    ),
    path(
        "api/v1/leaderboards/<str:arena>/<str:mode>/",
        leaderboard_api.LeaderboardDetailApi.as_view(),
        name="api-leaderboard",
    ),
    path("sampling/", sampling_api.sampling_page, name="sampling"),
    path(
        "api/v1/sampling/<str:arena>/<str:mode>/",
        sampling_api.SamplingApi.as_view(),
        name="api-sampling",
    ),
    path("datasets/", datasets_views.datasets_page, name="datasets"),
    re_path(
        r"^datasets/clips/(?P<uid>[0-9a-f]{1,32})\.mp4$",
        datasets_views.dataset_clip,
        name="dataset-clip",
    ),
    re_path(
        r"^datasets/(?P<version>[0-9A-Za-z._-]{1,40})/(?P<name>[A-Za-z0-9._-]{1,64})$",
        datasets_views.dataset_file,
        name="dataset-file",
    ),
    path("api/v1/datasets/", datasets_views.DatasetListApi.as_view(), name="api-datasets"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    re_path(rf"^api/v1/battles/{TOKEN}/report/$", api.ClipReportApi.as_view(), name="api-report"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    # Moderation (votes.moderation_views): moderators sign in here, staff or not.
    path("moderation/", include("votes.moderation_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="votes/moderation/login.html", next_page="/moderation/"
        ),
        name="moderation-login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
]

# A friendly 503 page when the database is down; JSON errors under /api/.
handler404 = "arena.errorpages.not_found"
handler500 = "arena.errorpages.server_error_or_outage"
