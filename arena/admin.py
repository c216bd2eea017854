import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.html import format_html

from . import ingest, tasks
from .models import Battle, Category, Clip, Generator, Prompt


@contextmanager
def uploaded_path(upload: UploadedFile) -> Iterator[Path]:
    """A path on disk for an upload, whether Django kept it in memory or in a temp file."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("upload" + Path(upload.name or "").suffix.lower())
        with path.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        upload.seek(0)
        yield path


def refuse_bad_upload(upload: object, validate: Callable[[Path], object]) -> None:
    """Check a newly uploaded file before anything is stored: the form shows why it is refused."""
    if not isinstance(upload, UploadedFile):
        return  # unchanged: the file already stored
    with uploaded_path(upload) as path:
        try:
            validate(path)
        except ingest.IngestError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ClipForm(forms.ModelForm):
    class Meta:
        model = Clip
        fields = ["generator", "prompt", "source", "hidden"]

    def clean_source(self):  # noqa: ANN201
        upload = self.cleaned_data.get("source")
        refuse_bad_upload(upload, ingest.validate_video)
        return upload


class PromptForm(forms.ModelForm):
    class Meta:
        model = Prompt
        fields = ["text", "mode", "categories", "input_image"]

    def clean_input_image(self):  # noqa: ANN201
        upload = self.cleaned_data.get("input_image")
        refuse_bad_upload(upload, ingest.validate_image)
        return upload


@admin.register(Generator)
class GeneratorAdmin(admin.ModelAdmin):
    list_display = ["name", "organisation", "modes", "has_sound", "status", "created_at"]
    list_filter = ["status", "has_sound"]
    search_fields = ["name", "organisation"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "bit"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    form = PromptForm
    list_display = ["id", "text", "mode", "created_at"]
    list_filter = ["mode", "categories"]
    search_fields = ["text"]
    filter_horizontal = ["categories"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    form = ClipForm
    list_display = [
        "uid",
        "generator",
        "prompt",
        "status",
        "duration",
        "width",
        "height",
        "has_audio",
        "hidden",
        "created_at",
    ]
    list_filter = ["status", "hidden", "has_audio", "generator"]
    search_fields = ["uid", "prompt__text", "generator__name", "sha256"]
    readonly_fields = [
        "uid",
        "status",
        "reject_reason",
        "sha256",
        "container",
        "video_codec",
        "audio_codec",
        "duration",
        "width",
        "height",
        "fps",
        "has_audio",
        "size_bytes",
        "poster_preview",
        "rendition_sound",
        "rendition_silent",
    ]
    fields = ["generator", "prompt", "source", "hidden", *readonly_fields]
    autocomplete_fields = ["prompt"]

    @admin.display(description="poster")
    def poster_preview(self, clip: Clip) -> str:
        if not clip.poster:
            return "-"
        return format_html('<img src="{}" style="max-width:320px">', clip.poster.url)

    def save_model(self, request, obj, form, change):  # noqa: ANN001, ANN201
        super().save_model(request, obj, form, change)
        if obj.status == Clip.Status.PENDING:
            clip_id = obj.pk
            transaction.on_commit(lambda: tasks.ingest_clip.delay(clip_id))
            messages.info(
                request,
                "The clip is being processed; its status will turn ready "
                "or rejected (with the reason) shortly.",
            )


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ["uid", "arena", "mode", "model_a", "model_b", "status", "issued_at"]
    list_filter = ["arena", "mode", "status"]
    readonly_fields = [f.name for f in Battle._meta.fields]

    def has_add_permission(self, request):  # noqa: ANN001, ANN201
        return False
