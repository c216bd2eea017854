"""Media helpers for the arena: probing, anonymised renditions, posters, attention checks.

Pure module (no Django): everything takes and returns plain paths and values so it can
run in a worker, a management command or a test without settings.

Anonymisation contract: a rendition made by :func:`write_rendition` carries no container
or stream tag (encoder, handler, title, comment, encoder settings) that differs by the
model that generated the source clip.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.bitstream
import numpy as np
from PIL import Image

StrPath = str | os.PathLike[str]

# Demuxers that happily "open" things that are not videos (images, text as ANSI art).
_NON_VIDEO_FORMATS = {"tty", "image2", "gif", "apng", "webp", "ico", "bmp", "mpjpeg"}
_NON_VIDEO_CODECS = {"ansi", "png", "bmp", "gif", "webp", "tiff", "apng", "bintext", "xbin"}
# SEI NAL types: x264/x265 write their full option string into "user data unregistered" SEI.
_SEI_FILTERS = {
    "h264": "filter_units=remove_types=6",
    "hevc": "filter_units=remove_types=39|40",
}
# Identical neutral handler names for every rendition (ffmpeg's own defaults).
_HANDLERS = {"video": "VideoHandler", "audio": "SoundHandler"}
# libavcodec's AAC encoder puts its version string into a fill element of the first packet.
_LAVC_IDENT = re.compile(rb"Lavc\d+\.\d+\.\d+")
_AAC_ID_FIL = 6
_PROBE_HEAD_PACKETS = 8
BROKEN_KINDS = ("frozen", "scrambled", "corrupt")


class MediaError(ValueError):
    """A file cannot be used as a clip; ``str(err)`` is a reason fit for an uploader."""


@dataclass(frozen=True)
class Probe:
    container: str
    video_codec: str
    audio_codec: str | None
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    size_bytes: int


# --------------------------------------------------------------------------- probing


def _looks_like_video(path: Path) -> bool:
    """Whether the file starts like a video container (so a failed open means damage)."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return head[4:8] == b"ftyp" or head[:4] == b"\x1a\x45\xdf\xa3" or head[8:12] == b"AVI "


def _open(path: StrPath) -> av.container.InputContainer:
    p = Path(path)
    if not p.is_file():
        raise MediaError("file not found")
    if p.stat().st_size == 0:
        raise MediaError("file is empty")
    try:
        return av.open(str(p), "r")
    except av.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        if _looks_like_video(p):
            raise MediaError(f"corrupt or truncated video: {reason}") from exc
        raise MediaError(f"not a video file ({reason})") from exc


def _video_stream(container: av.container.InputContainer) -> av.VideoStream:
    fmt = container.format.name
    if fmt in _NON_VIDEO_FORMATS or fmt.endswith("_pipe"):
        raise MediaError(f"not a video file (detected {fmt})")
    if not container.streams.video:
        raise MediaError("no video stream")
    stream = container.streams.video[0]
    if stream.codec_context.name in _NON_VIDEO_CODECS:
        raise MediaError(f"not a video file ({stream.codec_context.name})")
    return stream


def _duration(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    rate = stream.average_rate or stream.guessed_rate
    return float(stream.frames / rate) if rate and stream.frames else 0.0


def _decode_packets(stream: av.VideoStream, packets: list[av.Packet], drain: bool) -> int:
    ctx = stream.codec_context
    count = 0
    try:
        for packet in packets:
            count += len(ctx.decode(packet))
        if drain:
            count += len(ctx.decode(None))
    except av.FFmpegError as exc:
        raise MediaError(f"corrupt or truncated video: {exc.strerror or exc}") from exc
    return count


def _check_decodable(stream: av.VideoStream, packets: list[av.Packet]) -> None:
    """Decode the head and the final GOP: cheap, yet catches cut or damaged files."""
    _decode_packets(stream, packets[:_PROBE_HEAD_PACKETS], drain=False)
    # Restart at the last keyframe so the tail decodes without the (skipped) middle.
    stream.codec_context.flush_buffers()
    keyframes = [i for i, packet in enumerate(packets) if packet.is_keyframe]
    start = keyframes[-1] if keyframes else 0
    if _decode_packets(stream, packets[start:], drain=True) == 0:
        raise MediaError("corrupt or truncated video: no decodable frames")


def probe(path: StrPath, *, max_pixels: int | None = None) -> Probe:
    """Describe a video file, raising :class:`MediaError` if it is unusable.

    All packets are demuxed (so a missing tail is noticed) and the first frames plus the
    last GOP are decoded; the middle is not decoded, to stay fast on long uploads.
    A picture over `max_pixels` is refused from its header, before any frame is decoded:
    a small file can declare frames that would take gigabytes to decode.
    """
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    with _open(path) as container:
        stream = _video_stream(container)
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise MediaError("not a usable video (no picture size)")
        if max_pixels is not None and width * height > max_pixels:
            raise MediaError(f"clip is {width}x{height}, over the pixel limit")
        audio = container.streams.audio[0] if container.streams.audio else None
        packets: list[av.Packet] = []
        audio_packets = 0
        try:
            for packet in container.demux(stream, *([audio] if audio else [])):
                if packet.size == 0:
                    continue
                if packet.stream is stream:
                    packets.append(packet)
                else:
                    audio_packets += 1
        except av.FFmpegError as exc:
            raise MediaError(f"corrupt or truncated video: {exc.strerror or exc}") from exc
        if len(packets) < 2:
            raise MediaError("corrupt or truncated video: fewer than two video frames")
        if stream.frames and len(packets) < stream.frames:
            raise MediaError(
                f"corrupt or truncated video: {len(packets)} of {stream.frames} frames present"
            )
        if audio is not None and audio.frames and audio_packets < audio.frames:
            raise MediaError("corrupt or truncated video: audio track is cut short")
        _check_decodable(stream, packets)
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        return Probe(
            container=container.format.name,
            video_codec=stream.codec_context.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            duration=round(_duration(container, stream), 3),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=round(float(rate), 3),
            has_audio=audio is not None,
            size_bytes=size,
        )


def sha256_file(path: StrPath) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# --------------------------------------------------------------------------- renditions


def _scrub_aac(packet: av.Packet) -> av.Packet:
    """Blank libavcodec's version string in a leading AAC fill element (ignored by decoders)."""
    data = bytes(packet)
    if not data or data[0] >> 5 != _AAC_ID_FIL or not _LAVC_IDENT.search(data[:64]):
        return packet
    head = _LAVC_IDENT.sub(lambda m: bytes(len(m.group(0))), data[:64])
    clean = av.Packet(head + data[64:])
    clean.pts, clean.dts, clean.duration = packet.pts, packet.dts, packet.duration
    clean.time_base = packet.time_base
    clean.is_keyframe = packet.is_keyframe
    return clean


def _neutral_output(dst: StrPath) -> av.container.OutputContainer:
    # bitexact stops the muxer from writing its "Lavf…" encoder tag and creation times.
    return av.open(
        str(dst),
        "w",
        format="mp4",
        options={"movflags": "+faststart", "fflags": "+bitexact"},
    )


def _add_neutral_stream(out: av.container.OutputContainer, template: av.Stream) -> av.Stream:
    stream = out.add_stream_from_template(template)
    for key in list(stream.metadata):
        del stream.metadata[key]
    stream.metadata["handler_name"] = _HANDLERS[template.type]
    stream.metadata["language"] = "und"
    return stream


def _video_filter(src: av.VideoStream, dst: av.Stream) -> Callable[[av.Packet | None], list]:
    spec = _SEI_FILTERS.get(src.codec_context.name)
    if spec is None:
        return lambda p: [] if p is None else [p]
    bsf = av.bitstream.BitStreamFilterContext(spec, src, dst)
    return bsf.filter


def write_rendition(
    src: StrPath, dst: StrPath, *, audio: bool, audio_from: StrPath | None = None
) -> None:
    """Remux ``src`` into an anonymised, fast-start MP4 at ``dst`` (stream copy, no re-encode).

    Container tags are dropped, stream tags replaced by identical neutral values, SEI NAL
    units (x264/x265 option strings) removed, and the AAC encoder ident blanked. The
    audio stream is copied only if ``audio`` is true and the source (or ``audio_from``,
    when given) has one.
    """
    with _open(src) as container, _open(audio_from or src) as sound:
        vstream = _video_stream(container)
        astream = sound.streams.audio[0] if audio and sound.streams.audio else None
        try:
            with _neutral_output(dst) as out:
                vout = _add_neutral_stream(out, vstream)
                aout = _add_neutral_stream(out, astream) if astream is not None else None
                vfilter = _video_filter(vstream, vout)
                if audio_from is None and astream is not None:
                    packets = container.demux(vstream, container.streams.audio[0])
                else:
                    # The muxer interleaves by timestamp whatever the order we write in.
                    packets = itertools.chain(
                        container.demux(vstream),
                        sound.demux(astream) if astream is not None else (),
                    )
                for packet in packets:
                    if packet.dts is None:
                        continue
                    if packet.stream.type == "video":
                        for filtered in vfilter(packet):
                            filtered.stream = vout
                            out.mux(filtered)
                    else:
                        clean = _scrub_aac(packet)
                        clean.stream = aout
                        out.mux(clean)
                for filtered in vfilter(None):
                    filtered.stream = vout
                    out.mux(filtered)
        except av.FFmpegError as exc:
            Path(dst).unlink(missing_ok=True)
            raise MediaError(f"cannot remux video: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- posters


def _frames(container: av.container.InputContainer) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(video=0)
    except av.FFmpegError as exc:
        raise MediaError(f"corrupt or truncated video: {exc.strerror or exc}") from exc


def make_poster(src: StrPath, dst: StrPath, *, max_width: int = 640) -> tuple[int, int]:
    """Save a JPEG poster (frame at ~1 s, or the middle of shorter clips); return its size."""
    with _open(src) as container:
        stream = _video_stream(container)
        target = min(1.0, _duration(container, stream) / 2)
        chosen: av.VideoFrame | None = None
        for frame in _frames(container):
            chosen = frame
            if frame.time is not None and frame.time >= target:
                break
        if chosen is None:
            raise MediaError("corrupt or truncated video: no decodable frames")
        image = chosen.to_image()
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    # A fresh RGB image has no EXIF/ICC, so nothing about the source leaks into the poster.
    image.convert("RGB").save(dst, "JPEG", quality=85, optimize=True)
    return image.size


# --------------------------------------------------------------------------- attention checks


def _scramble(frame: np.ndarray, perm: np.ndarray, block: int) -> np.ndarray:
    h, w = (frame.shape[0] // block) * block, (frame.shape[1] // block) * block
    rows, cols = h // block, w // block
    tiles = frame[:h, :w].reshape(rows, block, cols, block, 3).swapaxes(1, 2)
    tiles = tiles.reshape(rows * cols, block, block, 3)[perm]
    out = frame.copy()
    out[:h, :w] = tiles.reshape(rows, cols, block, block, 3).swapaxes(1, 2).reshape(h, w, 3)
    return out


def _corrupt(frame: np.ndarray, rng: np.random.Generator, block: int) -> np.ndarray:
    h, w = (frame.shape[0] // block) * block, (frame.shape[1] // block) * block
    swapped = frame[:h, :w, [2, 0, 1]]  # swapped channels: skin turns blue, sky turns red
    small = swapped.reshape(h // block, block, w // block, block, 3).mean(axis=(1, 3))
    # Noise per block (not per pixel) looks like a broken decoder and keeps files small.
    small += rng.normal(0, 45, size=small.shape)
    garbage = rng.random(small.shape[:2]) < 0.08  # blocks that lost their reference frame
    small[garbage] = rng.integers(0, 256, size=(int(garbage.sum()), 3))
    small = np.clip(small, 0, 255).astype(np.uint8)
    out = frame.copy()
    out[:h, :w] = np.repeat(np.repeat(small, block, 0), block, 1)
    return out


def _broken_frames(
    frames: list[np.ndarray], kind: str, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    block = max(8, (min(frames[0].shape[:2]) // 6) // 8 * 8)
    if kind == "frozen":
        for _ in frames:
            yield frames[0]
    elif kind == "scrambled":
        tiles = (frames[0].shape[0] // block) * (frames[0].shape[1] // block)
        perm = rng.permutation(tiles)
        for frame in frames:
            yield _scramble(frame, perm, block)
    elif kind == "corrupt":
        for frame in frames:
            yield _corrupt(frame, rng, max(8, block // 2))
    else:
        raise ValueError(f"unknown broken kind {kind!r}; expected one of {BROKEN_KINDS}")


def make_broken(src: StrPath, dst: StrPath, *, kind: str, seed: int = 0) -> None:
    """Write an obviously degraded, anonymised, silent copy of ``src`` for attention checks.

    Same size, frame rate and frame count as the source; H.264 (libx264, yuv420p). The
    sound arena's copy adds the source's audio with write_rendition(audio_from=src).
    """
    if kind not in BROKEN_KINDS:
        raise ValueError(f"unknown broken kind {kind!r}; expected one of {BROKEN_KINDS}")
    with _open(src) as container:
        stream = _video_stream(container)
        rate = stream.average_rate or stream.guessed_rate or Fraction(24)
        frames = [f.to_ndarray(format="rgb24") for f in _frames(container)]
    if not frames:
        raise MediaError("corrupt or truncated video: no decodable frames")
    height, width = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2  # yuv420p
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "broken.mp4"
        with av.open(str(raw), "w", format="mp4") as out:
            vout = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            for array in _broken_frames(frames, kind, rng):
                frame = av.VideoFrame.from_ndarray(
                    np.ascontiguousarray(array[:height, :width]), format="rgb24"
                )
                out.mux(vout.encode(frame))
            out.mux(vout.encode(None))
        write_rendition(raw, dst, audio=False)
