"""A line chart as PNG bytes, in pure Python (zlib only). Pure.

matplotlib is not a dependency of this project (nor installed where it runs); an equity curve
needs a polyline, a zero line and a frame, which a few dozen lines draw exactly and
reproducibly (the same points give the same bytes). Labels and values go in the HTML page.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Callable, Sequence

__all__ = ["line_chart_png"]

WHITE = (255, 255, 255)
FRAME = (160, 160, 160)
ZERO = (210, 210, 210)
LINE = (31, 119, 180)
MARGIN = 8


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(pixels: list[bytearray], width: int, height: int) -> bytes:
    """RGB rows (``width * 3`` bytes each) as a PNG file."""
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter type 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def line_chart_png(values: Sequence[float], *, width: int = 800, height: int = 260) -> bytes:
    """``values`` as a polyline across the chart (the y range includes 0, drawn as a line)."""
    pixels = [bytearray(WHITE * width) for _ in range(height)]

    def put(x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < width and 0 <= y < height:
            pixels[y][3 * x : 3 * x + 3] = bytes(colour)

    low, high = min([0.0, *values]), max([0.0, *values])
    span = (high - low) or 1.0
    inner_w, inner_h = width - 2 * MARGIN - 1, height - 2 * MARGIN - 1

    def y_of(value: float) -> int:
        return MARGIN + round((high - value) / span * inner_h)

    for x in range(MARGIN, width - MARGIN):
        put(x, y_of(0.0), ZERO)
        put(x, MARGIN, FRAME)
        put(x, height - MARGIN - 1, FRAME)
    for y in range(MARGIN, height - MARGIN):
        put(MARGIN, y, FRAME)
        put(width - MARGIN - 1, y, FRAME)
    count = len(values)
    points = [
        (MARGIN + (round(i * inner_w / (count - 1)) if count > 1 else 0), y_of(v))
        for i, v in enumerate(values)
    ]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        _line(put, x0, y0, x1, y1)
    if count == 1:
        put(*points[0], LINE)
    return encode_png(pixels, width, height)


def _line(put: Callable[[int, int, tuple[int, int, int]], None], x0: int, y0: int, x1: int, y1: int) -> None:
    # Bresenham: every pixel of the segment, integer arithmetic only
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        put(x0, y0, LINE)
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
