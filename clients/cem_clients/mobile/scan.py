"""Reading a QR code from a photo: the enrolment form's "scan" (the web build has no live camera control, so the
phone's browser takes a photo, or picks one, and the code is decoded here, in Python).

:func:`decode_qr` gives the texts of the QR codes in an image (PNG, JPEG, WebP, ... anything Pillow opens),
decoded by zxing-cpp. What the text means is the form's business (:func:`cem_clients.mobile.enrolment.serial_from_scan`
takes a bare serial or a nameplate's JSON label).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage

__all__ = ["MAX_IMAGE_BYTES", "MAX_PIXELS", "ScanError", "decode_qr"]

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024  # a phone's photo is a few MB
MAX_PIXELS: Final = 64_000_000  # refuse decompression bombs well below Pillow's own limit
_WORK_SIDE: Final = 2000  # larger photos are scaled down first: faster, and a label still has enough pixels


class ScanError(ValueError):
    """The image could not be read (not an image, too large); the message says which."""


def decode_qr(data: bytes) -> list[str]:
    """The texts of the QR codes in the image ``data``, in the order found (empty: none found).

    Raises :class:`ScanError` when ``data`` is not an image that can be read.
    """
    try:  # compiled packages: a phone build without them still starts, and says so here
        import zxingcpp
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError as err:
        raise ScanError(f"This build cannot read QR codes ({err}); type the serial.") from err
    if not data:
        raise ScanError("The picture is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise ScanError(f"The picture is too large ({len(data) // (1024 * 1024)} MB; at most 20 MB).")
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise ScanError(f"The picture has too many pixels ({width}×{height}).")
            image: PilImage = ImageOps.exif_transpose(opened).convert("L")  # a phone's photo may be stored turned
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise ScanError("This is not a picture that can be read (take a photo, or choose a PNG or JPEG).") from err
    if max(image.size) > _WORK_SIDE:
        image.thumbnail((_WORK_SIDE, _WORK_SIDE))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    return [code.text for code in found if code.valid and code.text]
