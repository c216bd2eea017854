"""Procedural scenes and soundtracks for the offline demo catalogue.

Pure module (no Django). A scene is a factory ``(width, height, rng) -> draw(t)`` that
precomputes whatever it can once per clip and then draws the frame at time ``t`` (seconds)
with Pillow, which keeps a 3-second clip to a few milliseconds per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

Draw = Callable[[float], Image.Image]
SceneFactory = Callable[[int, int, np.random.Generator], Draw]
RGB = tuple[int, int, int]


def _gradient(w: int, h: int, top: RGB, bottom: RGB) -> Image.Image:
    ramp = np.linspace(0.0, 1.0, h)[:, None, None]
    rows = (1 - ramp) * np.array(top) + ramp * np.array(bottom)
    return Image.fromarray(np.repeat(rows, w, axis=1).astype(np.uint8), "RGB")


def _disc(d: ImageDraw.ImageDraw, x: float, y: float, r: float, fill: RGB) -> None:
    d.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _frame(bg: Image.Image) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = bg.copy()
    return img, ImageDraw.Draw(img)


def ball(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (120, 180, 240), (225, 235, 250))
    ImageDraw.Draw(bg).rectangle((0, int(h * 0.8), w, h), fill=(70, 150, 70))
    r, floor, speed = h * 0.09, h * 0.8, w * (0.35 + 0.2 * rng.random())

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        span = w - 2 * r
        x = r + abs((speed * t) % (2 * span) - span)
        y = floor - r - abs(math.sin(math.pi * 1.6 * t)) * h * 0.55
        d.ellipse((x - r, floor - 6, x + r, floor + 4), fill=(40, 100, 40))
        _disc(d, x, y, r, (220, 40, 40))
        _disc(d, x - r * 0.35, y - r * 0.35, r * 0.25, (255, 170, 170))
        return img

    return draw


def sunset(w: int, h: int, rng: np.random.Generator) -> Draw:
    horizon = int(h * 0.6)
    bg = _gradient(w, h, (70, 40, 110), (250, 140, 60))
    sea = _gradient(w, h - horizon, (40, 60, 120), (10, 20, 50))
    phase = rng.random() * 6

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        _disc(d, w * 0.5, horizon - h * 0.12 + t * h * 0.05, h * 0.13, (255, 210, 90))
        img.paste(sea, (0, horizon))
        for k in range(6):
            y0 = horizon + (k + 1) * (h - horizon) / 7
            pts = [(x, y0 + 3 * math.sin(x / 18 + 2.5 * t + k + phase)) for x in range(0, w + 8, 8)]
            d.line(pts, fill=(250, 170, 90) if k < 2 else (90, 120, 190), width=2)
        return img

    return draw


def city(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (5, 5, 30), (40, 30, 70))
    d0 = ImageDraw.Draw(bg)
    _disc(d0, w * 0.82, h * 0.18, h * 0.07, (240, 240, 210))
    windows: list[tuple[float, float, float]] = []
    x = 0.0
    while x < w:
        bw, bh = w * (0.06 + 0.08 * rng.random()), h * (0.3 + 0.55 * rng.random())
        d0.rectangle((x, h - bh, x + bw, h), fill=(20, 20, 35))
        for wx in np.arange(x + 4, x + bw - 6, 9):
            for wy in np.arange(h - bh + 6, h - 8, 12):
                windows.append((float(wx), float(wy), float(rng.random() * 10)))
        x += bw + 2

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for wx, wy, ph in windows:
            if math.sin(ph + t * (0.5 + ph / 5)) > -0.3:
                d.rectangle((wx, wy, wx + 4, wy + 5), fill=(255, 220, 120))
        cx = (t * w * 0.4) % (w + 40) - 20
        d.rectangle((cx, h - 8, cx + 18, h - 2), fill=(200, 40, 40))
        return img

    return draw


def fish(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (30, 140, 200), (5, 40, 90))
    d0 = ImageDraw.Draw(bg)
    for k in range(7):  # sea grass
        gx = w * (k + rng.random()) / 7
        d0.polygon([(gx - 6, h), (gx + 6, h), (gx + 2, h * 0.7)], fill=(30, 120, 60))
    bubbles = rng.random((14, 3))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        x = (t * w * 0.3 + w * 0.1) % (w + 80) - 40
        y = h * 0.45 + math.sin(t * 2.2) * h * 0.12
        s = h * 0.09
        wag = math.sin(t * 12) * s * 0.4
        d.polygon(
            [(x - s, y), (x - 2 * s, y - s * 0.8 + wag), (x - 2 * s, y + s * 0.8 + wag)],
            (250, 120, 20),
        )
        d.ellipse((x - 1.4 * s, y - s * 0.7, x + s, y + s * 0.7), fill=(255, 150, 30))
        _disc(d, x + s * 0.5, y - s * 0.15, s * 0.15, (20, 20, 20))
        for bx, by, bs in bubbles:
            yy = (by * h - t * h * (0.2 + 0.2 * bs)) % h
            d.ellipse((bx * w, yy, bx * w + 3 + 4 * bs, yy + 3 + 4 * bs), outline=(200, 230, 255))
        return img

    return draw


def star(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (15, 10, 40), (50, 20, 80))
    sparkles = rng.random((30, 3))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for sx, sy, ph in sparkles:
            if math.sin(t * 6 + ph * 10) > 0:
                _disc(d, sx * w, sy * h, 1.5, (255, 255, 220))
        cx, cy, r = w / 2, h / 2, h * 0.35
        pts = [
            (cx + (r if k % 2 == 0 else r * 0.42) * math.cos(t * 1.5 + k * math.pi / 5),
             cy + (r if k % 2 == 0 else r * 0.42) * math.sin(t * 1.5 + k * math.pi / 5))
            for k in range(10)
        ]  # fmt: skip
        hue = int(127 + 120 * math.sin(t * 2))
        d.polygon(pts, fill=(255, hue, 40), outline=(255, 255, 255))
        return img

    return draw


def snow(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (20, 30, 60), (80, 90, 120))
    d0 = ImageDraw.Draw(bg)
    d0.rectangle((0, h * 0.82, w, h), fill=(235, 240, 250))
    for k in range(5):
        tx = w * (0.1 + 0.2 * k + 0.05 * rng.random())
        d0.polygon([(tx - 20, h * 0.84), (tx + 20, h * 0.84), (tx, h * 0.45)], fill=(20, 70, 40))
    flakes = rng.random((90, 3))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for fx, fy, fs in flakes:
            y = (fy * h + t * h * (0.1 + 0.15 * fs)) % h
            x = (fx * w + 8 * math.sin(t * 2 + fs * 9)) % w
            _disc(d, x, y, 1 + 2 * fs, (255, 255, 255))
        return img

    return draw


_FLAMES: list[RGB] = [(255, 90, 0), (255, 160, 0), (255, 230, 80)]


def campfire(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (5, 5, 15), (30, 20, 20))
    d0 = ImageDraw.Draw(bg)
    d0.rectangle((0, h * 0.8, w, h), fill=(30, 25, 15))
    cx, base = w / 2, h * 0.8
    d0.line((cx - 50, base + 6, cx + 50, base - 6), fill=(90, 50, 20), width=10)
    d0.line((cx - 50, base - 6, cx + 50, base + 6), fill=(110, 60, 25), width=10)
    tongues = rng.random((7, 2))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        _disc(d, cx, base - 10, h * 0.3, (60, 30, 10))
        for k, (off, ph) in enumerate(tongues):
            col = _FLAMES[k % len(_FLAMES)]
            fh = h * (0.25 + 0.15 * math.sin(t * 9 + ph * 7) + 0.1 * off)
            fx = cx + (off - 0.5) * 60
            d.polygon(
                [(fx - 16, base), (fx + 16, base), (fx + 6 * math.sin(t * 7 + ph), base - fh)], col
            )
        for k in range(6):
            sy = base - ((t * 60 + k * 37) % (h * 0.7))
            _disc(d, cx + 25 * math.sin(k * 3 + t * 3), sy, 1.5, (255, 200, 80))
        return img

    return draw


def car(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (150, 200, 250), (230, 240, 250))
    road = int(h * 0.7)
    hills = [(float(rng.random()), 0.15 + 0.15 * float(rng.random())) for _ in range(5)]
    color = tuple(int(c) for c in rng.integers(40, 230, 3))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for hx, hh in hills:  # parallax: hills slower than the road
            x = (hx * w * 1.5 - t * w * 0.08) % (w * 1.5) - w * 0.25
            d.ellipse((x - w * 0.2, road - h * hh, x + w * 0.2, road + h * hh), fill=(90, 160, 80))
        d.rectangle((0, road, w, h), fill=(60, 60, 65))
        for k in range(-1, 8):
            x = k * w / 6 - (t * w * 0.9) % (w / 6)
            d.rectangle((x, h * 0.84, x + w / 14, h * 0.86), fill=(240, 240, 240))
        bx, by, bounce = w * 0.35, h * 0.72, 2 * math.sin(t * 25)
        d.rectangle((bx, by - 28 + bounce, bx + 110, by + bounce), fill=color)
        d.rectangle((bx + 20, by - 48 + bounce, bx + 80, by - 28 + bounce), fill=color)
        d.rectangle((bx + 27, by - 44 + bounce, bx + 73, by - 30 + bounce), fill=(180, 220, 250))
        for wx in (bx + 22, bx + 88):
            _disc(d, wx, by + 2, 12, (20, 20, 20))
            a = -t * 20
            d.line(
                (wx, by + 2, wx + 10 * math.cos(a), by + 2 + 10 * math.sin(a)), (150, 150, 150), 2
            )
        return img

    return draw


def bird(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (90, 160, 235), (200, 225, 250))
    clouds = rng.random((4, 2))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for cx, cy in clouds:
            x = (cx * w + t * 12) % (w + 100) - 50
            for dx in (-22, 0, 22):
                _disc(d, x + dx, cy * h * 0.5 + 20 + abs(dx) / 3, 18, (250, 250, 255))
        x = (t * w * 0.28 + w * 0.1) % (w + 60) - 30
        y = h * 0.5 + math.sin(t * 1.5) * h * 0.15
        flap = math.sin(t * 14) * 18
        d.line([(x - 30, y - flap), (x, y), (x + 30, y - flap)], fill=(30, 30, 40), width=4)
        _disc(d, x, y, 5, (30, 30, 40))
        return img

    return draw


def dancer(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (25, 10, 35), (60, 20, 50))
    ImageDraw.Draw(bg).rectangle((0, h * 0.85, w, h), fill=(70, 40, 30))
    tempo = 2.0 + rng.random()

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        cx = w / 2 + math.sin(t * tempo) * w * 0.12
        d.ellipse((cx - 70, h * 0.8, cx + 70, h * 0.9), fill=(200, 180, 90))
        hip, neck, s = h * 0.58, h * 0.35, h * 0.18
        swing = math.sin(t * tempo * 2)
        col, wd = (250, 240, 230), 5
        d.line((cx, hip, cx, neck), fill=col, width=wd)
        _disc(d, cx, neck - 16, 13, col)
        for side in (-1, 1):
            d.line((cx, neck + 6, cx + side * s, neck - side * swing * s * 0.8), fill=col, width=wd)
            d.line((cx, hip, cx + side * s * 0.6 + swing * 8, h * 0.84), fill=col, width=wd)
        return img

    return draw


def coffee(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (230, 210, 180), (180, 150, 120))
    d0 = ImageDraw.Draw(bg)
    d0.rectangle((0, h * 0.75, w, h), fill=(120, 80, 50))
    cx, top = w / 2, h * 0.5
    d0.ellipse((cx - 90, h * 0.78, cx + 90, h * 0.9), fill=(245, 245, 245))
    d0.rectangle((cx - 55, top, cx + 55, h * 0.82), fill=(250, 250, 250))
    d0.ellipse((cx + 40, top + 15, cx + 85, top + 60), outline=(250, 250, 250), width=8)
    d0.ellipse((cx - 55, top - 10, cx + 55, top + 10), fill=(110, 60, 30))
    phases = rng.random(3) * 6

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for k, ph in enumerate(phases):
            pts = [
                (cx - 30 + 30 * k + 10 * math.sin(y / 15 - t * 3 + ph), y)
                for y in np.linspace(top - 15, top - h * 0.4, 12)
            ]
            d.line(pts, fill=(255, 255, 255), width=3)
        return img

    return draw


def lanterns(w: int, h: int, rng: np.random.Generator) -> Draw:
    bg = _gradient(w, h, (10, 10, 40), (20, 30, 70))
    ImageDraw.Draw(bg).rectangle((0, h * 0.75, w, h), fill=(10, 20, 45))
    items = rng.random((12, 3))

    def draw(t: float) -> Image.Image:
        img, d = _frame(bg)
        for lx, ly, ls in items:
            y = h * 0.8 - ((ly * h + t * h * (0.08 + 0.08 * ls)) % (h * 0.9))
            x = lx * w + 6 * math.sin(t + ls * 8)
            s = 5 + 6 * ls
            _disc(d, x, y, s * 1.8, (90, 50, 30))
            d.rounded_rectangle((x - s, y - s * 1.3, x + s, y + s * 1.3), s / 2, (255, 170, 60))
            _disc(d, x, h * 0.75 + (h * 0.8 - y) * 0.2, 2, (255, 170, 60))  # reflection
        return img

    return draw


SCENES: dict[str, SceneFactory] = {
    f.__name__: f
    for f in (ball, sunset, city, fish, star, snow, campfire, car, bird, dancer, coffee, lanterns)
}


def make_scene(key: str, width: int, height: int, seed: int = 0) -> Draw:
    """Return ``draw(t) -> RGB image`` for scene ``key``; deterministic given ``seed``."""
    return SCENES[key](width, height, np.random.default_rng(seed))
