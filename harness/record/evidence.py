"""The one evidence recorder: every artefact a case produces goes to disk as it is made.

Writing immediately (and fsync'ing) means an interrupted or crashed run still leaves what it
saw; scrubbing every write through the redactor means a device password can never reach a
bundle, whichever probe produced the text.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REDACTED = "«redacted»"


class Redactor:
    """Replaces every known secret value with a fixed marker, in text and bytes alike."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        for s in secrets:
            self.add(s)

    def add(self, secret: str) -> None:
        if secret:
            with self._lock:
                self._secrets.add(secret)

    def _ordered(self) -> list[str]:
        with self._lock:
            # longest first, so a secret containing another is replaced whole
            return sorted(self._secrets, key=len, reverse=True)

    def text(self, value: str) -> str:
        for s in self._ordered():
            value = value.replace(s, REDACTED)
        return value

    def data(self, value: bytes) -> bytes:
        for s in self._ordered():
            value = value.replace(s.encode(), REDACTED.encode())
        return value

    def obj(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.obj(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("._")
    if not cleaned:
        raise ValueError(f"evidence name {name!r} has no usable characters")
    return cleaned[:120]


RESERVE_NAME = ".space-reserve"
RESERVE_BYTES = 4 << 20  # what results, manifest, sums and signature of a large run take, with room


class DiskFull(OSError):
    """The file system holding the bundle is full: the run stops, and the space held in reserve
    since it started is given back so the bundle can still be sealed, marked incomplete."""


class Space:
    """Space held back from the first moment of a run, for sealing when the disk fills."""

    def __init__(self, root: Path) -> None:
        self.path = root / RESERVE_NAME
        self.full = False
        self.where = ""

    def reserve(self) -> None:
        try:
            _write(self.path, b"\0" * RESERVE_BYTES, None)
        except OSError as e:
            self.release()
            raise DiskFull(e.errno, f"{self.path.parent}: not even {RESERVE_BYTES >> 20} MiB free for the "
                                    f"bundle ({e.strerror}); free some space or give another --out") from None

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def filled(self, path: Path, e: OSError) -> DiskFull:
        self.full, self.where = True, str(path)
        self.release()
        return DiskFull(e.errno, f"the disk holding the bundle filled up while writing {path.name} ({e.strerror})")


def _write(path: Path, data: bytes, space: Space | None, mode: str = "wb") -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if space is not None and e.errno in (errno.ENOSPC, errno.EDQUOT):
            if mode == "wb":
                path.unlink(missing_ok=True)  # a file cut short is not evidence; the reason names it instead
            raise space.filled(path, e) from None
        raise


@dataclass
class CaseEvidence:
    """The evidence folder of one test case; paths it returns are relative to the bundle root."""

    case_id: str
    root: Path
    folder: str
    redactor: Redactor
    space: Space | None = None
    files: list[str] = field(default_factory=list)

    def _path(self, name: str) -> tuple[Path, str]:
        rel = f"{self.folder}/{_safe_name(name)}"
        return self.root / rel, rel

    def write_bytes(self, name: str, data: bytes) -> str:
        path, rel = self._path(name)
        _write(path, self.redactor.data(data), self.space)
        if rel not in self.files:
            self.files.append(rel)
        return rel

    def write_text(self, name: str, text: str) -> str:
        return self.write_bytes(name, self.redactor.text(text).encode())

    def write_json(self, name: str, obj: Any) -> str:
        text = json.dumps(self.redactor.obj(obj), indent=2, sort_keys=True, default=str) + "\n"
        return self.write_bytes(name, text.encode())


class EvidenceRecorder:
    """Hands out one `CaseEvidence` per case under `<bundle>/evidence/`."""

    def __init__(self, root: Path, redactor: Redactor) -> None:
        self.root = root
        self.redactor = redactor
        self._cases: dict[str, CaseEvidence] = {}
        self._folders: set[str] = set()
        (root / "evidence").mkdir(parents=True, exist_ok=True)
        self.space = Space(root)
        self.space.reserve()

    def for_case(self, case_id: str) -> CaseEvidence:
        if case_id not in self._cases:
            base = "evidence/" + _safe_name(case_id)
            folder, n = base, 1
            while folder in self._folders:
                n += 1
                folder = f"{base}-{n}"
            self._folders.add(folder)
            self._cases[case_id] = CaseEvidence(case_id, self.root, folder, self.redactor, self.space)
        return self._cases[case_id]

    def write_json(self, rel: str, obj: Any) -> None:
        """A run-level file (manifest, results) written through the same redactor."""
        text = json.dumps(self.redactor.obj(obj), indent=2, sort_keys=True, default=str) + "\n"
        _write(self.root / rel, text.encode(), self.space)

    def write_text(self, rel: str, text: str) -> None:
        """A run-level text file (a report rendered into the bundle) through the same redactor."""
        _write(self.root / rel, self.redactor.text(text).encode(), self.space)

    def append_jsonl(self, rel: str, obj: Any) -> None:
        line = json.dumps(self.redactor.obj(obj), sort_keys=True, default=str) + "\n"
        _write(self.root / rel, line.encode(), self.space, mode="ab")
