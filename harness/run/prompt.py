"""Asking the operator the attestation questions at a terminal, before any device is touched.

All questions come first, so the person at the bench answers them in one sitting and the device
cases then run unattended within their budgets (a case timer must never fire on a person who is
still typing). Reads and writes the controlling terminal itself (/dev/tty): pytest has replaced
standard input by then, and a run with no terminal (CI) must refuse `--ask` up front rather than
wait for an answer that cannot come.
"""

from __future__ import annotations

import io
import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from harness.declaration.answers import AnswersError, GivenAnswer, read_attachment
from harness.declaration.questions import Question

CHOICES = {"p": "PASS", "f": "FAIL", "n": "NOT_APPLICABLE", "s": None}


class NoTerminal(Exception):
    """--ask was given but there is no terminal to ask on."""


def open_terminal() -> TextIO:
    try:
        raw = open("/dev/tty", "r+b", buffering=0)  # noqa: SIM115 - held until the questions are done
    except OSError as e:
        raise NoTerminal(f"--ask needs a terminal to ask the operator on ({e.strerror or e}); in CI or a script "
                         "give the answers as a file with --answers FILE instead") from None
    # unbuffered: a terminal cannot seek, so the read-write buffered file text mode would build refuses it
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", line_buffering=True, write_through=True)


def ask_all(questions: list[Question], operator: str, tty: TextIO, base: Path | None = None) -> dict[str, GivenAnswer]:
    """Ask each question; s (skip) leaves it unanswered (NOT_EVALUATED, "needs operator answer")."""
    base = base or Path(os.getcwd())
    out: dict[str, GivenAnswer] = {}
    tty.write(f"\n{len(questions)} question(s) only a person can answer. For each: p = PASS, f = FAIL, "
              "n = NOT_APPLICABLE, s = skip (stays NOT_EVALUATED).\n")
    for n, q in enumerate(questions, 1):
        tty.write(f"\n[{n}/{len(questions)}] {q.id}  (bears on {', '.join(q.requirements)})\n")
        tty.write(textwrap.fill(q.asks, 96, initial_indent="  ", subsequent_indent="  ") + "\n")
        tty.write(textwrap.fill(f"PASS means: {q.pass_when}", 96, initial_indent="  ", subsequent_indent="  ") + "\n")
        if q.attach:
            tty.write(f"  attach: {q.attach}\n")
        answer = _choice(tty)
        if answer is None:
            continue
        note = _line(tty, "  note (what you looked at)" + (": " if answer == "PASS" else ", required: "),
                     required=answer != "PASS")
        files = _attachments(tty, base, q.id)
        out[q.id] = GivenAnswer(question=q.id, answer=answer, note=note, answered_by=operator,
                                answered_at=datetime.now(UTC).isoformat(timespec="seconds"),
                                source="terminal", attachments=tuple(files))
    tty.write("\n")
    return out


def _choice(tty: TextIO) -> str | None:
    while True:
        tty.write("  answer [p/f/n/s]: ")
        raw = tty.readline()
        if not raw:
            raise EOFError("the terminal closed while a question was open")
        key = raw.strip().lower()[:1]
        if key in CHOICES:
            return CHOICES[key]
        tty.write("  please type p, f, n or s\n")


def _line(tty: TextIO, prompt: str, required: bool) -> str:
    while True:
        tty.write(prompt)
        raw = tty.readline()
        if not raw:
            raise EOFError("the terminal closed while a question was open")
        text = raw.strip()
        if not required or len(text) >= 10:
            return text
        tty.write("  a FAIL or NOT_APPLICABLE answer needs a note of at least 10 characters saying why\n")


def _attachments(tty: TextIO, base: Path, qid: str) -> list:
    while True:
        tty.write("  attachments (paths, comma-separated; empty for none): ")
        raw = tty.readline()
        if not raw:
            raise EOFError("the terminal closed while a question was open")
        names = [n.strip() for n in raw.split(",") if n.strip()]
        try:
            return [read_attachment(base, n, f"question {qid}") for n in names]
        except AnswersError as e:
            tty.write(f"  {e}\n")
