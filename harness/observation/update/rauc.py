"""RAUC bundles (plain format): a squashfs holding `manifest.raucm` and the images, followed by a
detached CMS signature over the whole squashfs and its size as a big-endian 64-bit integer.

The squashfs is read and rebuilt with Debian's squashfs-tools (`unsquashfs`, `mksquashfs`), the
same tools `rauc bundle` uses; the harness never writes a squashfs by hand. A bundle whose files
are unchanged keeps its original squashfs bytes, so the manufacturer's signature stays valid;
any change rebuilds it, which is what an attacker does. Verity and crypt bundles (signature over
the manifest, dm-verity data) are not read yet: they are refused with that reason.
"""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.observation.update.swu import ImageError

MANIFEST = "manifest.raucm"
SIGNATURE = "(CMS signature appended to the squashfs)"
SQUASHFS_MAGIC = b"hsqs"
MAX_SIGNATURE_BYTES = 1 << 20


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ImageError(f"reading RAUC bundles needs {name} (apt-get install squashfs-tools)")
    return path


def _unpack(squashfs: bytes) -> list[tuple[str, bytes]]:
    with tempfile.TemporaryDirectory(prefix="rauc-") as tmp:
        src, out = Path(tmp, "b.sqfs"), Path(tmp, "x")
        src.write_bytes(squashfs)
        p = subprocess.run([_tool("unsquashfs"), "-no-xattrs", "-no-progress", "-d", str(out), str(src)],
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise ImageError(f"the bundle's squashfs does not unpack: {p.stderr.strip()[:200]}")
        files = sorted(f for f in out.rglob("*") if f.is_file() and not f.is_symlink())
        return [(str(f.relative_to(out)), f.read_bytes()) for f in files]


def _pack(entries: list[tuple[str, bytes]]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="rauc-") as tmp:
        root, out = Path(tmp, "c"), Path(tmp, "b.sqfs")
        for name, data in entries:
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        p = subprocess.run([_tool("mksquashfs"), str(root), str(out), "-all-root", "-noappend", "-no-xattrs",
                            "-no-progress", "-quiet", "-mkfs-time", "0", "-all-time", "0"],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise ImageError(f"mksquashfs failed: {p.stderr.strip()[:200]}")
        return out.read_bytes()


@dataclass
class RaucBundle:
    entries: list[tuple[str, bytes]]
    signature: bytes | None
    _squashfs: bytes | None = field(default=None, repr=False)  # the original bytes while unchanged
    format: str = "rauc"
    descriptor_name: str = MANIFEST
    signature_name: str = SIGNATURE

    @classmethod
    def parse(cls, data: bytes) -> RaucBundle:
        if len(data) < 12:
            raise ImageError("not a RAUC bundle: too short")
        (size,) = struct.unpack(">Q", data[-8:])
        if size > MAX_SIGNATURE_BYTES or size > len(data) - 8:
            raise ImageError(f"not a RAUC bundle: signature size {size} does not fit the file")
        squashfs = data[: len(data) - 8 - size]
        if not squashfs.startswith(SQUASHFS_MAGIC):
            raise ImageError("not a RAUC bundle: no squashfs at the start")
        bundle = cls(_unpack(squashfs), data[len(data) - 8 - size: -8] or None, squashfs)
        if bundle.get(MANIFEST) is None:
            raise ImageError(f"not a RAUC bundle: no {MANIFEST}")
        fmt = bundle._manifest().get("bundle", "format", fallback="plain")
        if fmt != "plain":
            raise ImageError(f"RAUC bundle format {fmt!r} is not read yet (plain only)")
        return bundle

    def _manifest(self) -> configparser.ConfigParser:
        cp = configparser.ConfigParser(interpolation=None)
        try:
            cp.read_string(self.description)
        except configparser.Error as e:
            raise ImageError(f"{MANIFEST} is not readable: {e}") from None
        return cp

    def get(self, name: str) -> bytes | None:
        return next((d for n, d in self.entries if n == name), None)

    @property
    def description(self) -> str:
        return (self.get(MANIFEST) or b"").decode("utf-8", "replace")

    @property
    def signed_content(self) -> bytes:
        if self._squashfs is None:
            self._squashfs = _pack(self.entries)
        return self._squashfs

    @property
    def version(self) -> str | None:
        return self._manifest().get("update", "version", fallback=None)

    @property
    def signed_hashes(self) -> dict[str, str]:
        cp = self._manifest()
        return {cp[s]["filename"]: cp[s].get("sha256", "").lower() for s in cp.sections()
                if s.startswith("image.") and "filename" in cp[s]}

    @property
    def payload_names(self) -> list[str]:
        return [n for n, _ in self.entries if n != MANIFEST]

    def to_bytes(self) -> bytes:
        sig = self.signature or b""
        return self.signed_content + sig + struct.pack(">Q", len(sig))

    def replace(self, name: str, data: bytes | None) -> RaucBundle:
        out = [(n, data if n == name else d) for n, d in self.entries if not (n == name and data is None)]
        return RaucBundle(out, self.signature)

    def with_description(self, text: str) -> RaucBundle:
        return self.replace(MANIFEST, text.encode())

    def with_signature(self, signature: bytes | None) -> RaucBundle:
        return RaucBundle(list(self.entries), signature, self._squashfs)
