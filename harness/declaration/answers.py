"""The operator's answers to the attestation questions, given as a YAML file.

A file (not only a terminal prompt) so a CI run or a recorded lab session answers the same way
every time, and the answers an assessor reads are the ones that were given: the file's hash goes
into the evidence with each answer, and every attachment is hashed and copied into the bundle.

    answered_by: "Hanako Sato, QA lead"       # who stands behind the answers (required)
    answered_at: 2026-12-01T10:00:00+09:00    # optional; the file's own time otherwise
    answers:
      debug-interfaces:
        answer: PASS                          # PASS, FAIL or NOT_APPLICABLE
        note: UART pads J3 present; console disabled in the shipping U-Boot (tried, no prompt)
        attachments: [photos/j3-header.jpg, logs/uart-attempt.txt]   # relative to this file
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.declaration.datafile import DataFileError, load_yaml_model
from harness.declaration.questions import Question

MAX_ATTACHMENT_BYTES = 32 << 20


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    answer: Literal["PASS", "FAIL", "NOT_APPLICABLE"]
    note: str = Field(default="", max_length=4000, description="what was looked at; required unless PASS")
    attachments: list[str] = Field(default_factory=list, max_length=20)
    answered_by: str | None = Field(default=None, description="overrides the file's answered_by for this answer")

    @model_validator(mode="after")
    def _reasoned(self) -> Answer:
        if self.answer != "PASS" and len(self.note.strip()) < 10:
            raise ValueError(f"an answer of {self.answer} needs a note saying why (what was looked at, what is "
                             "missing or absent)")
        return self


class AnswersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    answered_by: str = Field(min_length=2)
    answered_at: datetime | None = None
    answers: dict[str, Answer] = Field(default_factory=dict)


class AnswersError(DataFileError):
    pass


@dataclass(frozen=True)
class Attachment:
    name: str
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class GivenAnswer:
    """One answer as the run records it: who, when, where it came from, and what is attached."""

    question: str
    answer: str
    note: str
    answered_by: str
    answered_at: str
    source: str  # "answers file <path> (sha256 …)" or "terminal"
    attachments: tuple[Attachment, ...] = ()


def read_attachment(base: Path, name: str, where: str) -> Attachment:
    path = (base / name).resolve()
    try:
        st = path.stat()
    except OSError as e:
        raise AnswersError(f"{where}: attachment {name!r} cannot be read ({e.strerror}); paths are relative to "
                           "the answers file") from None
    if not stat.S_ISREG(st.st_mode):
        raise AnswersError(f"{where}: attachment {name!r} is not a regular file; attach the file itself")
    if st.st_size > MAX_ATTACHMENT_BYTES:
        raise AnswersError(f"{where}: attachment {name!r} is {st.st_size} bytes, more than the "
                           f"{MAX_ATTACHMENT_BYTES} allowed; attach a smaller file or an excerpt")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return Attachment(name=name, path=path, sha256=digest.hexdigest(), size=st.st_size)


def load_answers(path: Path, questions: tuple[Question, ...] | list[Question]) -> dict[str, GivenAnswer]:
    """Validate an answers file against the question set; AnswersError names each problem and the fix."""
    data = load_yaml_model(path, AnswersFile, "operator answers file", error=AnswersError)
    known = {q.id for q in questions}
    unknown = sorted(set(data.answers) - known)
    if unknown:
        raise AnswersError(f"{path}: no question has the id(s) {', '.join(unknown)}; the questions are listed by "
                           "`iot-harness catalog questions`")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    when = (data.answered_at or datetime.fromtimestamp(path.stat().st_mtime, UTC)).isoformat(timespec="seconds")
    out = {}
    for qid, a in data.answers.items():
        where = f"{path}: answers.{qid}"
        out[qid] = GivenAnswer(
            question=qid, answer=a.answer, note=a.note.strip(), answered_by=a.answered_by or data.answered_by,
            answered_at=when, source=f"answers file {path.name} (sha256 {sha})",
            attachments=tuple(read_attachment(path.parent, n, where) for n in a.attachments),
        )
    return out
