"""A raw firmware image with a detached signature beside it, the shape of most small updaters:
the image is opaque bytes (a kernel, a squashfs, a vendor blob) and a separate file holds a
detached CMS signature over all of it. There is no descriptor and no per-payload hash: the
signature covers the image itself, so the image is at once the signed content and the only
payload. The version is read from the bytes by the profile's regex (`update.raw`).

On disk, the signature of image X is X plus the declared suffix; on the wire, both go in one
multipart form (`image.detached_part` says what travels beside the image). An image without its signature
file is opened as unsigned, so the offline check can say so rather than the run failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.declaration.profile import RawSignedLayout
from harness.observation.update.swu import ImageError

MAX_IMAGE_BYTES = 1 << 30
MAX_SIGNATURE_BYTES = 1 << 20


@dataclass
class RawSignedImage:
    image_name: str
    data: bytes
    signature_bytes: bytes | None
    layout: RawSignedLayout
    format: str = "raw-signed"

    @classmethod
    def parse(cls, data: bytes, layout: RawSignedLayout, signature: bytes | None,
              name: str = "image.bin") -> RawSignedImage:
        if not data:
            raise ImageError("the image is empty")
        if len(data) > MAX_IMAGE_BYTES:
            raise ImageError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
        if signature is not None and len(signature) > MAX_SIGNATURE_BYTES:
            raise ImageError(f"the signature is larger than {MAX_SIGNATURE_BYTES} bytes; is it the right file?")
        image = cls(name, data, signature, layout)
        if image.version is None:
            raise ImageError(f"no version in the image: the pattern {layout.version_pattern!r} does not match its "
                             "bytes (update.raw.version_pattern)")
        return image

    @property
    def entries(self) -> list[tuple[str, bytes]]:
        sig = [(self.signature_name, self.signature_bytes)] if self.signature_bytes is not None else []
        return [(self.image_name, self.data), *sig]

    @property
    def descriptor_name(self) -> str:
        return self.image_name

    @property
    def signature_name(self) -> str:
        return self.image_name + self.layout.signature_suffix

    @property
    def description(self) -> str:
        return f"raw image {self.image_name} ({len(self.data)} bytes, version {self.version})"

    @property
    def signed_content(self) -> bytes:
        return self.data

    @property
    def signature(self) -> bytes | None:
        return self.signature_bytes

    @property
    def version(self) -> str | None:
        m = re.search(self.layout.version_pattern.encode(), self.data)
        return m.group(1).decode("utf-8", "replace") if m else None

    @property
    def signed_hashes(self) -> dict[str, str]:
        return {}  # the signature covers the image directly: there is no hash to keep in step

    @property
    def payload_names(self) -> list[str]:
        return [self.image_name]

    def get(self, name: str) -> bytes | None:
        return dict(self.entries).get(name)

    def to_bytes(self) -> bytes:
        return self.data

    def replace(self, name: str, data: bytes | None) -> RawSignedImage:
        if name == self.signature_name:
            return self.with_signature(data)
        if name != self.image_name or data is None:
            raise ImageError(f"a raw image has one payload, {self.image_name}; cannot replace {name!r}")
        return RawSignedImage(self.image_name, data, self.signature_bytes, self.layout)

    def with_description(self, text: str) -> RawSignedImage:
        raise ImageError("a raw image has no descriptor to edit: its signature covers the image itself")

    def with_signature(self, signature: bytes | None) -> RawSignedImage:
        return RawSignedImage(self.image_name, self.data, signature, self.layout)
