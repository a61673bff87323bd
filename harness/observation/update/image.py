"""Update images whatever their format: the one interface the integrity checks and the malicious
variants are written against, and the registry that opens an image as the profile declares it.

A format supplies: its entries and bytes, the descriptor the signature covers (`signed_content`),
the detached signature, the version, the payloads with their signed hashes, and copies with a
payload, the descriptor or the signature replaced. SWUpdate's .swu and a vendor's declared
signed-manifest archive, RAUC's plain bundles and a raw image with a detached signature file
implement it; a new format is one class here, not a new check. Only the raw format sends a part
beside the image (its signature): `detached_part` says what, for the uploads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.declaration.profile import UpdateMechanism
from harness.observation.update.manifest import ManifestImage
from harness.observation.update.rauc import RaucBundle
from harness.observation.update.raw import MAX_SIGNATURE_BYTES, RawSignedImage
from harness.observation.update.swu import ImageError, SwuImage

EXTENSIONS = {"swu": ".swu", "signed-manifest": ".img", "rauc": ".raucb", "raw-signed": ".bin"}


class SignedImage(Protocol):
    format: str
    entries: list[tuple[str, bytes]]

    @property
    def descriptor_name(self) -> str: ...
    @property
    def signature_name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def signed_content(self) -> bytes: ...
    @property
    def signature(self) -> bytes | None: ...
    @property
    def version(self) -> str | None: ...
    @property
    def signed_hashes(self) -> dict[str, str]: ...
    @property
    def payload_names(self) -> list[str]: ...
    def get(self, name: str) -> bytes | None: ...
    def to_bytes(self) -> bytes: ...
    def replace(self, name: str, data: bytes | None) -> SignedImage: ...
    def with_description(self, text: str) -> SignedImage: ...
    def with_signature(self, signature: bytes | None) -> SignedImage: ...


def image_format(update: UpdateMechanism) -> str:
    return update.image_format or "swu"


def open_image(data: bytes, update: UpdateMechanism, signature: bytes | None = None,
               name: str = "image.bin") -> SignedImage:
    """The image in the format the profile declares; ImageError when it is not one. `signature`
    is the detached signature of a raw-signed image (the other formats carry theirs inside)."""
    fmt = image_format(update)
    if fmt == "raw-signed":
        assert update.raw is not None  # the profile validator guarantees it
        return RawSignedImage.parse(data, update.raw, signature, name)
    if fmt == "signed-manifest":
        assert update.manifest is not None  # the profile validator guarantees it
        return ManifestImage.parse(data, update.manifest)
    if fmt == "rauc":
        return RaucBundle.parse(data)
    return SwuImage.parse(data)


def load_image(path: Path, update: UpdateMechanism) -> SignedImage:
    """A declared image file, with its detached signature file when the format has one (a raw
    image whose signature file is missing opens as unsigned). OSError and ImageError pass up."""
    data = path.read_bytes()
    signature = None
    if image_format(update) == "raw-signed":
        assert update.raw is not None
        sig_path = path.with_name(path.name + update.raw.signature_suffix)
        if sig_path.is_file():
            if sig_path.stat().st_size > MAX_SIGNATURE_BYTES:
                raise ImageError(f"signature file {sig_path} is larger than {MAX_SIGNATURE_BYTES} bytes")
            signature = sig_path.read_bytes()
    return open_image(data, update, signature, path.name)


def detached_part(image: SignedImage) -> bytes | None:
    """What is uploaded beside the image: the signature of a raw image, else nothing."""
    return image.signature if image.format == "raw-signed" else None


__all__ = ["EXTENSIONS", "ImageError", "SignedImage", "detached_part", "image_format", "load_image", "open_image"]
