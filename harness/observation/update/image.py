"""Update images whatever their format: the one interface the integrity checks and the malicious
variants are written against, and the registry that opens an image as the profile declares it.

A format supplies: its entries and bytes, the descriptor the signature covers (`signed_content`),
the detached signature, the version, the payloads with their signed hashes, and copies with a
payload, the descriptor or the signature replaced. SWUpdate's .swu and a vendor's declared
signed-manifest archive and RAUC's plain bundles implement it; a new format is one class here,
not a new check.
"""

from __future__ import annotations

from typing import Protocol

from harness.declaration.profile import UpdateMechanism
from harness.observation.update.manifest import ManifestImage
from harness.observation.update.rauc import RaucBundle
from harness.observation.update.swu import ImageError, SwuImage

EXTENSIONS = {"swu": ".swu", "signed-manifest": ".img", "rauc": ".raucb"}


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


def open_image(data: bytes, update: UpdateMechanism) -> SignedImage:
    """The image in the format the profile declares; ImageError when it is not one."""
    fmt = image_format(update)
    if fmt == "signed-manifest":
        assert update.manifest is not None  # the profile validator guarantees it
        return ManifestImage.parse(data, update.manifest)
    if fmt == "rauc":
        return RaucBundle.parse(data)
    return SwuImage.parse(data)


__all__ = ["EXTENSIONS", "ImageError", "SignedImage", "image_format", "open_image"]
