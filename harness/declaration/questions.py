"""Operator questions: the requirements only a person can judge, asked the same way every run.

Kept as data (harness/data/attestations.yaml) like the catalogs, so a lab adds or rewords a question
without code, and each question names the requirements it bears on in any catalog: one answer counts
for all of them (secure storage is JC-STAR S1.1-11, EN 303 645 5.4-1 and NIST IR 8259A DP-1 alike).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.declaration.catalog import Catalogs
from harness.declaration.datafile import DataFileError, load_yaml_model

ANSWERS = ("PASS", "FAIL", "NOT_APPLICABLE")


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]+$", description="the key an answers file gives the answer under")
    requirements: list[str] = Field(min_length=1)
    asks: str = Field(min_length=20, description="the question, in plain words")
    pass_when: str = Field(min_length=5, description="what a PASS answer states")
    attach: str | None = Field(default=None, description="what to attach, where it helps an assessor")
    fallback_for: list[str] = Field(default_factory=list, description="checks (suite.check) this question stands in "
                                    "for where they could not run (a reset that is a button): unanswered, it does "
                                    "not hold back a requirement those checks decided; answered, it counts as any "
                                    "answer does")


class QuestionSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    questions: list[Question] = Field(min_length=1)


class QuestionsError(DataFileError):
    pass


def questions_path() -> Path:
    return Path(str(resources.files("harness") / "data" / "attestations.yaml"))


@cache
def load_questions() -> tuple[Question, ...]:
    path = questions_path()
    qs = load_yaml_model(path, QuestionSet, "operator question set", error=QuestionsError,
                         ids=lambda s: [q.id for q in s.questions])
    return tuple(qs.questions)


def unknown_requirements(questions: tuple[Question, ...], catalogs: Catalogs) -> list[str]:
    """Questions naming a requirement no catalog has: a typo would silently ask about nothing."""
    known = catalogs.requirements
    return [f"question {q.id}: names unknown requirement {r!r}" for q in questions for r in q.requirements
            if r not in known]


def questions_for(schemes: list[str], catalogs: Catalogs) -> list[Question]:
    """The questions this run asks: those bearing on a requirement of a scheme it evaluates."""
    wanted = {r.id for s in schemes for r in catalogs.by_scheme[s].requirements}
    return [q for q in load_questions() if wanted.intersection(q.requirements)]
