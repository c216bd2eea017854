"""Dataset releases for researchers: the /datasets/ page, the API, and the files."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from arena.apischema import example, read_errors
from arena.models import Arena, Clip
from arena.ranges import serve_file

from .models import DatasetRelease
from .releases import release_files

CONTENT_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".gz": "application/gzip",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
}


def file_entries(request: HttpRequest, release: DatasetRelease) -> list[dict]:
    return [
        {
            "format": f["format"],
            "name": f["name"],
            "sha256": f["sha256"],
            "bytes": f["bytes"],
            "url": request.build_absolute_uri(
                reverse("dataset-file", kwargs={"version": release.version, "name": f["name"]})
            ),
        }
        for f in release.manifest.get("files", [])
    ]


RELEASES = inline_serializer(
    "Release",
    {
        "version": serializers.CharField(),
        "created_at": serializers.DateTimeField(),
        "votes": serializers.IntegerField(),
        "licence": serializers.CharField(),
        "files": serializers.ListField(
            child=inline_serializer(
                "ReleaseFile",
                {
                    "format": serializers.CharField(),
                    "name": serializers.CharField(),
                    "url": serializers.URLField(),
                    "sha256": serializers.CharField(),
                    "bytes": serializers.IntegerField(),
                },
            )
        ),
    },
    many=True,
)
RELEASE_EXAMPLE = {
    "version": "2026-11-25.1",
    "created_at": "2026-11-25T03:00:00+00:00",
    "votes": 18204,
    "licence": "CC-BY-4.0",
    "files": [
        {
            "format": "parquet",
            "name": "votes.parquet",
            "url": "https://arena.example/datasets/2026-11-25.1/votes.parquet",
            "sha256": "9f2c4e0b7d1a3c5e8f6b2d4a1c3e5f7a9b0d2c4e6f8a1b3c5d7e9f0a2b4c6d8e",
            "bytes": 1048576,
        }
    ],
}


class DatasetListApi(APIView):
    @extend_schema(
        operation_id="datasets_list",
        summary="Dataset releases, newest first",
        responses={
            200: OpenApiResponse(
                RELEASES,
                description="Every release, newest first.",
                examples=[example("One release", RELEASE_EXAMPLE)],  # listed by spectacular,
            ),
            **read_errors(),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {
                    "version": r.version,
                    "created_at": r.created_at.isoformat(),
                    "votes": r.rows,
                    "licence": r.licence,
                    "files": file_entries(request, r),
                }
                for r in DatasetRelease.objects.all()
            ]
        )


@csrf_exempt  # GET and HEAD only
@require_safe
def datasets_page(request: HttpRequest) -> HttpResponse:
    releases = [
        {
            "release": r,
            "files": file_entries(request, r),
            "readme": reverse("dataset-file", kwargs={"version": r.version, "name": "README.md"}),
        }
        for r in DatasetRelease.objects.all()
    ]
    return render(request, "votes/datasets.html", {"releases": releases})


@csrf_exempt  # GET and HEAD only
@require_safe
def dataset_file(request: HttpRequest, version: str, name: str) -> HttpResponse:
    release = get_object_or_404(DatasetRelease, version=version)
    if name not in release_files(release):
        raise Http404("no such file in this release")
    suffix = "." + name.rsplit(".", 1)[-1]
    content_type = (
        CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    response = serve_file(
        request,
        default_storage,
        f"{release.folder}/{name}",
        content_type,
        cache_control="public, max-age=31536000, immutable",
    )
    response["Content-Disposition"] = f'attachment; filename="{release.version}-{name}"'
    return response


@csrf_exempt  # GET and HEAD only
@require_safe
def dataset_clip(request: HttpRequest, uid: str) -> HttpResponse:
    """A clip named in a release, with its sound where it has one."""
    clip = Clip.objects.filter(uid=uid, status=Clip.Status.READY).first()
    if clip is None:
        raise Http404("no such clip")
    rendition = clip.rendition_for(Arena.AUDIO if clip.has_audio else Arena.NO_AUDIO)
    return serve_file(
        request, default_storage, rendition.name, "video/mp4", cache_control="public, max-age=86400"
    )
