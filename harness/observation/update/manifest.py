"""A vendor's own signed-manifest update image, described as data rather than code.

Many updaters that are not SWUpdate or RAUC ship the same idea in their own shape: an archive (tar
or cpio) holding a manifest (JSON: the version and, for every payload, its name and SHA-256), a
detached CMS signature over the manifest, and the payloads. The profile's `update.manifest` says
where each part is (`ManifestLayout`), so a new vendor's format is a declaration, not a new module.
The malicious variants are derived from it exactly as from a .swu (see derive.py).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass

from harness.declaration.profile import ManifestLayout
from harness.observation.update import cpio
from harness.observation.update.swu import ImageError

MAX_ENTRIES = 256
MAX_ENTRY_BYTES = 512 << 20


def dig(data, dotted: str):
    """The value at a dotted key path of parsed JSON (`fw.version`), or None where it is absent."""
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _read_tar(data: bytes) -> list[tuple[str, bytes]]:
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if len(out) >= MAX_ENTRIES:
                    raise ImageError(f"more than {MAX_ENTRIES} entries")
                if not member.isfile():
                    continue  # directories, links and devices carry no payload; never followed
                if member.size > MAX_ENTRY_BYTES:
                    raise ImageError(f"entry {member.name!r} is larger than {MAX_ENTRY_BYTES} bytes")
                f = tar.extractfile(member)
                out.append((member.name.removeprefix("./"), f.read() if f else b""))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ImageError(f"not a readable tar archive: {e}") from None
    return out


def _write_tar(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class ManifestImage:
    entries: list[tuple[str, bytes]]
    layout: ManifestLayout
    format: str = "signed-manifest"

    @classmethod
    def parse(cls, data: bytes, layout: ManifestLayout) -> ManifestImage:
        if layout.archive == "tar":
            entries = _read_tar(data)
        else:
            try:
                entries = cpio.read(data)
            except cpio.CpioError as e:
                raise ImageError(f"not a cpio archive: {e}") from None
        image = cls(entries, layout)
        if image.get(layout.descriptor) is None:
            raise ImageError(f"no manifest entry {layout.descriptor!r} (entries: {[n for n, _ in entries][:10]})")
        image.manifest()  # readable, or ImageError
        return image

    def manifest(self) -> dict:
        try:
            doc = json.loads(self.get(self.layout.descriptor) or b"")
        except ValueError as e:
            raise ImageError(f"{self.layout.descriptor} is not JSON: {e}") from None
        if not isinstance(doc, dict) or not isinstance(dig(doc, self.layout.payloads_key), list):
            raise ImageError(f"{self.layout.descriptor} has no list of payloads at {self.layout.payloads_key!r}")
        return doc

    def to_bytes(self) -> bytes:
        return _write_tar(self.entries) if self.layout.archive == "tar" else cpio.write(self.entries)

    def get(self, name: str) -> bytes | None:
        return next((d for n, d in self.entries if n == name), None)

    @property
    def descriptor_name(self) -> str:
        return self.layout.descriptor

    @property
    def signature_name(self) -> str:
        return self.layout.signature

    @property
    def description(self) -> str:
        return (self.get(self.layout.descriptor) or b"").decode("utf-8", "replace")

    @property
    def signed_content(self) -> bytes:
        return self.get(self.layout.descriptor) or b""

    @property
    def signature(self) -> bytes | None:
        return self.get(self.layout.signature)

    @property
    def version(self) -> str | None:
        v = dig(self.manifest(), self.layout.version_key)
        return None if v is None else str(v)

    @property
    def signed_hashes(self) -> dict[str, str]:
        out = {}
        for rec in dig(self.manifest(), self.layout.payloads_key) or []:
            if isinstance(rec, dict) and isinstance(rec.get(self.layout.name_key), str):
                out[rec[self.layout.name_key]] = str(rec.get(self.layout.hash_key, "")).lower()
        return out

    @property
    def payload_names(self) -> list[str]:
        return [n for n, _ in self.entries if n not in (self.layout.descriptor, self.layout.signature)]

    def replace(self, name: str, data: bytes | None) -> ManifestImage:
        out = [(n, data if n == name else d) for n, d in self.entries if not (n == name and data is None)]
        return ManifestImage(out, self.layout)

    def with_description(self, text: str) -> ManifestImage:
        return self.replace(self.layout.descriptor, text.encode())

    def with_signature(self, signature: bytes | None) -> ManifestImage:
        if signature is None or self.signature is not None:
            return self.replace(self.layout.signature, signature)
        i = next(i for i, (n, _) in enumerate(self.entries) if n == self.layout.descriptor)
        return ManifestImage([*self.entries[: i + 1], (self.layout.signature, signature), *self.entries[i + 1:]],
                             self.layout)


def build(layout: ManifestLayout, version: str, payloads: list[tuple[str, bytes]], extra: dict, sign) -> bytes:
    """A signed image in `layout`, as a manufacturer's build makes it; `sign(content) -> CMS DER`."""
    import hashlib

    doc = {**extra, layout.version_key: version,
           layout.payloads_key: [{layout.name_key: n, layout.hash_key: hashlib.sha256(d).hexdigest()}
                                 for n, d in payloads]}
    text = json.dumps(doc, indent=2).encode()
    entries = [(layout.descriptor, text), (layout.signature, sign(text)), *payloads]
    return _write_tar(entries) if layout.archive == "tar" else cpio.write(entries)
