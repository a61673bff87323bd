"""The SVR4 cpio formats SWUpdate images use: `newc` (070701) and `crc` (070702).

Written by hand (about forty lines) because nothing maintained serves: `cpiofile` on PyPI is
dead since 2011, `libarchive-c` writes newc but not the crc variant and needs the system
library, and `swugenerator` (the SWUpdate author's tool) has a writer but no reader. The
mutations need both directions, entry by entry, byte-exact.
"""

from __future__ import annotations

FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
          "rdevmajor", "rdevminor", "namesize", "check")
TRAILER = "TRAILER!!!"
HEADER_LEN = 6 + 8 * len(FIELDS)


class CpioError(ValueError):
    """Not a newc/crc cpio archive, or a truncated one."""


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def write(entries: list[tuple[str, bytes]], crc: bool = True) -> bytes:
    """Entries in order, then the trailer; padded to 512 bytes as GNU cpio pads."""
    out = bytearray()
    magic = b"070702" if crc else b"070701"
    for ino, (name, data) in enumerate([*entries, (TRAILER, b"")], start=1):
        bname = name.encode() + b"\0"
        last = name == TRAILER
        values = {
            "ino": 0 if last else ino, "mode": 0 if last else 0o100644, "uid": 0, "gid": 0, "nlink": 1,
            "mtime": 0, "filesize": len(data), "devmajor": 0, "devminor": 0, "rdevmajor": 0, "rdevminor": 0,
            "namesize": len(bname), "check": (sum(data) & 0xFFFFFFFF) if crc else 0,
        }
        header = magic + b"".join(b"%08X" % values[f] for f in FIELDS)
        out += header + bname + b"\0" * _pad4(len(header) + len(bname))
        out += data + b"\0" * _pad4(len(data))
    out += b"\0" * ((512 - len(out) % 512) % 512)
    return bytes(out)


def read(blob: bytes) -> list[tuple[str, bytes]]:
    """Entries in archive order, without the trailer. Raises CpioError on anything malformed."""
    pos, entries = 0, []
    while True:
        magic = blob[pos : pos + 6]
        if magic not in (b"070701", b"070702"):
            raise CpioError(f"no cpio newc/crc header at offset {pos} (found {magic!r})")
        if pos + HEADER_LEN > len(blob):
            raise CpioError(f"cpio header at offset {pos} is cut off")
        try:
            v = {f: int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i, f in enumerate(FIELDS)}
        except ValueError:
            raise CpioError(f"cpio header at offset {pos} has non-hex fields") from None
        pos += HEADER_LEN
        name = blob[pos : pos + v["namesize"] - 1].decode("utf-8", "replace")
        pos += v["namesize"] + _pad4(HEADER_LEN + v["namesize"])
        if pos + v["filesize"] > len(blob):
            raise CpioError(f"entry {name!r} is cut off ({v['filesize']} bytes announced)")
        data = blob[pos : pos + v["filesize"]]
        pos += v["filesize"] + _pad4(v["filesize"])
        if name == TRAILER:
            return entries
        entries.append((name, bytes(data)))
