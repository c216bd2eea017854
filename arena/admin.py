from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from . import tasks
from .models import Battle, Category, Clip, Generator, Prompt


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
    list_display = ["id", "text", "mode", "created_at"]
    list_filter = ["mode", "categories"]
    search_fields = ["text"]
    filter_horizontal = ["categories"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
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
