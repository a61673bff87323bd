"""The one evidence recorder: every artefact a case produces goes to disk as it is made.

Writing immediately (and fsync'ing) means an interrupted or crashed run still leaves what it
saw; scrubbing every write through the redactor means a device password can never reach a
bundle, whichever probe produced the text.
"""

from __future__ import annotations

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


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@dataclass
class CaseEvidence:
    """The evidence folder of one test case; paths it returns are relative to the bundle root."""

    case_id: str
    root: Path
    folder: str
    redactor: Redactor
    files: list[str] = field(default_factory=list)

    def _path(self, name: str) -> tuple[Path, str]:
        rel = f"{self.folder}/{_safe_name(name)}"
        return self.root / rel, rel

    def write_bytes(self, name: str, data: bytes) -> str:
        path, rel = self._path(name)
        _write(path, self.redactor.data(data))
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

    def for_case(self, case_id: str) -> CaseEvidence:
        if case_id not in self._cases:
            base = "evidence/" + _safe_name(case_id)
            folder, n = base, 1
            while folder in self._folders:
                n += 1
                folder = f"{base}-{n}"
            self._folders.add(folder)
            self._cases[case_id] = CaseEvidence(case_id, self.root, folder, self.redactor)
        return self._cases[case_id]

    def write_json(self, rel: str, obj: Any) -> None:
        """A run-level file (manifest, results) written through the same redactor."""
        text = json.dumps(self.redactor.obj(obj), indent=2, sort_keys=True, default=str) + "\n"
        _write(self.root / rel, text.encode())

    def append_jsonl(self, rel: str, obj: Any) -> None:
        line = json.dumps(self.redactor.obj(obj), sort_keys=True, default=str) + "\n"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
