"""Headless Chromium for the report tests: the rendered DOM, and a screenshot's pixels.

Debian's ``chromium`` package (``.ci/run`` installs it in CI). Without it a local run skips with how
to install it; in CI (``CI=true``) the test fails instead, so a missing browser is never a silent pass.
No network: every fetch, update check and sync is switched off, and the page is a local file.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
INSTALL = "apt-get install -y --no-install-recommends chromium"


def chromium() -> str:
    """The browser's path; skips (locally) or fails (CI=true) when it is not installed."""
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Chromium is missing in CI: .ci/run must install it ({INSTALL})")
    pytest.skip(f"Chromium is not installed; to run this test: sudo {INSTALL}")


def _run(page: Path, profile: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *arguments, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, timeout=120, check=True)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after the page rendered, serialised by the browser."""
    return _run(page, profile, "--dump-dom").stdout.decode("utf-8")


def screenshot(page: Path, profile: Path, *, width: int, height: int) -> bytes:
    target = profile / "screenshot.png"
    _run(page, profile, f"--screenshot={target}", f"--window-size={width},{height}")
    return target.read_bytes()


def colour_counts(png: bytes) -> Counter[tuple[int, int, int]]:
    """How many pixels have each RGB colour (8-bit, non-interlaced RGB or RGBA PNG, as Chromium writes)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, data = 8, b""
    width = height = channels = 0
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or interlace or colour_type not in (2, 6):
                raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}")
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            data += chunk
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for index in range(stride):
            left = line[index - channels] if index >= channels else 0
            up = previous[index]
            corner = previous[index - channels] if index >= channels else 0
            if kind == 1:
                line[index] = (line[index] + left) & 0xFF
            elif kind == 2:
                line[index] = (line[index] + up) & 0xFF
            elif kind == 3:
                line[index] = (line[index] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                nearest = min(
                    (abs(estimate - left), 0, left),
                    (abs(estimate - up), 1, up),
                    (abs(estimate - corner), 2, corner),
                )[2]
                line[index] = (line[index] + nearest) & 0xFF
        counts.update((line[pixel], line[pixel + 1], line[pixel + 2]) for pixel in range(0, stride, channels))
        previous = line
    return counts
