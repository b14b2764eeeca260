"""QR codes of invitation URLs (DESIGN.md §6) as PNG, SVG or a bare module matrix.

Speed: `qrcode` normally searches the smallest version (`fit=True`) and tries all eight masks
for every code, then draws every module as a rectangle with Pillow. For 20,000 letters that
takes minutes. Our payload always has the same length (`{PUBLIC_BASE_URL}/i/{token}`), so the
version is computed once per payload length and cached, the mask is fixed, and the images are
built straight from the module matrix (PNG: one 1-bit image scaled with NEAREST; SVG: one path
of horizontal runs). See bench/qr_letters.py for the measured rates.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import qrcode
import qrcode.util
from PIL import Image

from events.codes import invitation_url

# M (~15 % recovery) keeps the code small enough for a letter and a phone screen while
# surviving a fold or a coffee stain; Q would push most production URLs up one version.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
# A fixed mask skips the eight-way penalty search. Mask 2 (vertical stripes every 3rd column)
# decodes fine with every reader we tried; the quality loss against the "best" mask is
# negligible for byte-mode URLs of this size.
MASK_PATTERN = 2
BORDER = 4  # the quiet zone the standard asks for, in modules
PNG_BOX = 8  # pixels per module in the PNG (a v4 code becomes 264 x 264 px)
# Bump when the image output changes, so cached copies (ETag) are refreshed.
RENDER_VERSION = "1"


@lru_cache(maxsize=32)
def version_for_length(length: int, error_correction: int = ERROR_CORRECTION) -> int:
    """The smallest QR version that holds `length` bytes in byte mode (computed once per length)."""
    probe = qrcode.QRCode(error_correction=error_correction, border=0)
    probe.add_data(qrcode.util.QRData(b"a" * length, mode=qrcode.util.MODE_8BIT_BYTE))
    return probe.best_fit()


def matrix_for(data: str) -> list[list[bool]]:
    """The module matrix of `data` including the quiet zone (True = dark)."""
    payload = data.encode("utf-8")
    qr = qrcode.QRCode(version=version_for_length(len(payload)), error_correction=ERROR_CORRECTION,
                       border=BORDER, mask_pattern=MASK_PATTERN)
    qr.add_data(qrcode.util.QRData(payload, mode=qrcode.util.MODE_8BIT_BYTE))
    qr.make(fit=False)
    return qr.get_matrix()


def dark_runs(matrix: list[list[bool]]):
    """Yield (x, y, length) for each horizontal run of dark modules."""
    for y, row in enumerate(matrix):
        x = 0
        width = len(row)
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                yield start, y, x - start
            else:
                x += 1


def matrix_image(matrix: list[list[bool]]) -> Image.Image:
    """A 1-bit image with one pixel per module (black on white)."""
    size = len(matrix)
    raw = bytes(0 if dark else 255 for row in matrix for dark in row)
    return Image.frombytes("L", (size, size), raw).convert("1", dither=Image.Dither.NONE)


def png_bytes(data: str, *, box: int = PNG_BOX) -> bytes:
    image = matrix_image(matrix_for(data))
    if box != 1:
        image = image.resize((image.width * box, image.height * box), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def svg_text(data: str, *, title: str = "QR") -> str:
    """A standalone SVG (viewBox in modules; scales to any size without blurring)."""
    matrix = matrix_for(data)
    size = len(matrix)
    path = "".join(f"M{x} {y}h{n}v1h-{n}z" for x, y, n in dark_runs(matrix))
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {size} {size}" '
        f'width="{size * PNG_BOX}" height="{size * PNG_BOX}" shape-rendering="crispEdges" role="img">'
        f"<title>{safe_title}</title>"
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>\n'
    )


def invitation_png(token: str) -> bytes:
    return png_bytes(invitation_url(token))


def invitation_svg(token: str) -> str:
    return svg_text(invitation_url(token))


def etag_for(token: str, kind: str) -> str:
    """A strong ETag: the image depends only on the URL (token + base URL) and the renderer."""
    digest = hashlib.sha256(f"{RENDER_VERSION}|{kind}|{invitation_url(token)}".encode()).hexdigest()[:32]
    return f'"{digest}"'
