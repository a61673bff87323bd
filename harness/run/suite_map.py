"""Which checks and questions evaluate each requirement, read from the suite without running it.

`catalog coverage` and the orphan test need the answer without a device or a profile: the markers
are on the test functions themselves, so importing the suite's modules (no collection, no fixture,
no packet) gives every check with the requirements it names, its method and its probe class.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field

from harness.declaration.catalog import Catalogs
from harness.declaration.questions import Question, load_questions


@dataclass(frozen=True)
class SuiteCheck:
    id: str  # suite.check, as case ids begin
    requirements: tuple[str, ...]
    method: str
    probe_class: str


@dataclass
class RequirementCoverage:
    scheme: str
    id: str
    title: str
    method: str
    checks: list[SuiteCheck] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    @property
    def orphan(self) -> bool:
        return not (self.checks or self.questions)


def _marks(obj: object, name: str) -> list:
    marks = getattr(obj, "pytestmark", [])
    return [m for m in (marks if isinstance(marks, list) else [marks]) if m.name == name]


def builtin_checks() -> list[SuiteCheck]:
    import test_suites

    out = []
    for info in pkgutil.walk_packages(test_suites.__path__, "test_suites."):
        leaf = info.name.rsplit(".", 1)[-1]
        if info.ispkg or not leaf.startswith("test_"):
            continue
        module = importlib.import_module(info.name)
        suite = info.name.split(".")[1]
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("test_") or fn.__module__ != module.__name__:
                continue
            reqs = tuple(str(a) for m in _marks(fn, "requirements") for a in m.args)
            method = next((str(m.args[0]) for m in _marks(fn, "method") + _marks(module, "method")), "device-test")
            cls = next((str(m.args[0]) for m in _marks(fn, "probe_class") + _marks(module, "probe_class")), "safe")
            out.append(SuiteCheck(f"{suite}.{name.removeprefix('test_')}", reqs, method, cls))
    return sorted(out, key=lambda c: c.id)


def requirement_coverage(catalogs: Catalogs, scheme: str) -> list[RequirementCoverage]:
    checks = builtin_checks()
    questions = load_questions()
    out = []
    for req in catalogs.by_scheme[scheme].requirements:
        out.append(RequirementCoverage(
            scheme=scheme, id=req.id, title=req.title, method=str(req.method),
            checks=[c for c in checks if req.id in c.requirements],
            questions=[q for q in questions if req.id in q.requirements],
        ))
    return out
