"""allure results (a folder for `allure generate` or Allure TestOps), written with allure-python-commons,
the library allure-pytest itself writes with, from the signed bundle rather than from a live pytest
session: a bundle re-rendered anywhere gives the same results, and nothing unverified reaches CI.

Labels follow the behaviours view: epic = scheme, feature = requirement, story = case; a case that
bears on several requirements carries each, so it shows under every one. Each requirement also
gets a result of its own (story "requirement verdict"), so a requirement no case evaluated is
visible, not absent. Evidence files are attached as they were signed. JUnit's gap applies here too:
allure has no INCONCLUSIVE or NOT_EVALUATED, so those are skipped with the verdict in the message.
"""

from __future__ import annotations

import hashlib
import mimetypes
from datetime import datetime
from pathlib import Path

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Attachment, Label, Parameter, Status, StatusDetails, TestResult
from allure_commons.types import LabelType

from harness.record.reader import VerifiedBundle
from harness.record.results import CaseResult, RequirementResult
from harness.record.verdict import Verdict

FORMAT = "allure"
DIRECTORY = True  # writes a folder of result files to --out

_STATUS = {Verdict.PASS: Status.PASSED, Verdict.FAIL: Status.FAILED, Verdict.ERROR: Status.BROKEN}
_SEVERITY = {Verdict.FAIL: "critical", Verdict.ERROR: "critical", Verdict.INCONCLUSIVE: "normal"}


def _id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _ms(text: str, offset_s: float = 0.0) -> int | None:
    try:
        return int((datetime.fromisoformat(text).timestamp() + offset_s) * 1000)
    except ValueError:
        return None


def _status(verdict: Verdict, reason: str) -> tuple[str, StatusDetails]:
    status = _STATUS.get(verdict, Status.SKIPPED)
    message = reason if status is not Status.SKIPPED else f"{verdict.value}: {reason}".rstrip(": ")
    return status, StatusDetails(message=message or verdict.value)


class _Writer:
    def __init__(self, bundle: VerifiedBundle, folder: Path) -> None:
        self.bundle, self.logger = bundle, AllureFileLogger(str(folder))
        self.device = bundle.results.device
        self.hashes = bundle.hashes()
        self.by_req = {r.id: r for r in bundle.results.requirements}
        self.written = 0

    def _common(self, name: str) -> list[Label]:
        d = self.device
        return [Label(LabelType.PARENT_SUITE, f"{d.vendor} {d.model}"), Label(LabelType.SUITE, d.firmware_version),
                Label(LabelType.SUB_SUITE, name), Label(LabelType.FRAMEWORK, "iot-label-harness")]

    def _attach(self, rel: str) -> Attachment:
        source = self.bundle.path(rel)
        name = f"{_id(self.bundle.digest, rel)}-attachment{source.suffix or '.txt'}"
        self.logger.report_attached_file(source=str(source), file_name=name)
        return Attachment(name=f"{rel} (sha256 {self.hashes.get(rel, 'not signed')})", source=name,
                          type=mimetypes.guess_type(source.name)[0] or "text/plain")

    def _text(self, key: str, title: str, text: str) -> Attachment:
        name = f"{_id(self.bundle.digest, key)}-attachment.txt"
        self.logger.report_attached_data(body=text, file_name=name)
        return Attachment(name=title, source=name, type="text/plain")

    def case(self, c: CaseResult) -> None:
        reqs = [self.by_req[r] for r in c.requirements if r in self.by_req]
        labels = [*self._common("cases"), Label(LabelType.STORY, c.id), Label(LabelType.TAG, c.probe_class),
                  *(Label(LabelType.EPIC, s) for s in dict.fromkeys(r.scheme for r in reqs)),
                  *(Label(LabelType.FEATURE, f"{r.id} {r.title}") for r in reqs),
                  Label(LabelType.SEVERITY, _SEVERITY.get(c.verdict, "minor"))]
        status, details = _status(c.verdict, c.reason)
        findings = "\n".join(f"{f.verdict} {f.target} [{f.rule}] {f.reason}" + (f"\n  fix: {f.fix}" if f.fix else "")
                             for f in c.findings)
        attachments = [self._attach(p) for p in c.evidence]
        if findings:
            attachments.insert(0, self._text(f"findings/{c.id}", "findings", findings + "\n"))
        start = _ms(c.started) if c.started else _ms(self.bundle.manifest.started)
        result = TestResult(
            uuid=_id(self.bundle.digest, "case", c.id), name=c.id, fullName=f"{c.check}.{c.id}",
            historyId=_id(self.device.vendor, self.device.model, c.id), testCaseId=_id(c.check),
            status=status, statusDetails=details, labels=labels, attachments=attachments,
            parameters=[Parameter(name=k, value=v) for k, v in (("unit", c.unit), ("service", c.service)) if v],
            description=f"verdict {c.verdict.value}; requirements {', '.join(c.requirements)}",
            start=start, stop=start + int(c.duration_s * 1000) if start is not None else None, stage="finished")
        self.logger.report_result(result)
        self.written += 1

    def requirement(self, r: RequirementResult) -> None:
        labels = [*self._common(r.scheme), Label(LabelType.EPIC, r.scheme),
                  Label(LabelType.FEATURE, f"{r.id} {r.title}"), Label(LabelType.STORY, "requirement verdict"),
                  Label(LabelType.TAG, r.method), *(Label(LabelType.TAG, f"evaluated-by:{m}") for m in r.evaluated_by)]
        status, details = _status(r.verdict, "; ".join(r.notes))
        start = _ms(self.bundle.manifest.started)
        self.logger.report_result(TestResult(
            uuid=_id(self.bundle.digest, "requirement", r.scheme, r.id), name=f"{r.id} {r.title}",
            fullName=f"{r.scheme}.{r.id}", historyId=_id(self.device.vendor, self.device.model, r.scheme, r.id),
            testCaseId=_id(r.scheme, r.id), status=status, statusDetails=details, labels=labels,
            description=r.explanation, start=start, stop=start, stage="finished",
            parameters=[Parameter(name="cases", value=", ".join(r.cases) or "none")]))
        self.written += 1


def render(bundle: VerifiedBundle, options) -> str:
    folder = Path(options.output)
    writer = _Writer(bundle, folder)
    for c in bundle.results.cases:
        writer.case(c)
    for r in bundle.results.requirements:
        writer.requirement(r)
    d = bundle.results.device
    env = {"device": f"{d.vendor} {d.model}", "firmware": d.firmware_version, "bundle.digest": bundle.digest,
           "schemes": ",".join(bundle.results.schemes), "exit.code": str(bundle.results.summary.exit_code)}
    (folder / "environment.properties").write_text(
        "".join(f"{k}={v.replace(chr(10), ' ')}\n" for k, v in env.items()), encoding="utf-8")
    return f"{writer.written} allure results"
