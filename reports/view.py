"""What every human-facing report shows, gathered once from a verified bundle.

The HTML page, its PDF and the ★1 checklist all answer the same questions (which requirement
fails, on what evidence, what to change), so they read one view instead of each walking the
results their own way. Only what the signed bundle holds goes in: a report re-rendered on an
assessor's machine shows exactly what the lab saw.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.record.reader import VerifiedBundle
from harness.record.results import CaseResult, CoverageRow, Finding, RequirementResult
from harness.record.verdict import SEVERITY

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Security label assessment", "device": "Device", "firmware": "Firmware", "units": "Units",
        "bundle": "Evidence bundle", "digest": "Statement digest (SHA-256)", "signer": "Signer key",
        "embedded": "This page was sealed into the bundle, rendered from the evidence as first sealed; that "
                    "statement is kept as reports/evidence.dsse.json, and `iot-harness bundle verify` checks it.",
        "verified": "Verified: every file matches its signed hash", "files": "files",
        "status": "Run", "complete": "complete", "incomplete": "INCOMPLETE", "started": "Started",
        "finished": "Finished", "operator": "Operator", "tool": "Harness", "classes": "Probe classes enabled",
        "policies": "Policies", "rejudged": "Re-judged from the recorded observations of",
        "requirement": "Requirement", "verdict": "Verdict", "how": "How evaluated", "what_to_change":
        "What to change", "cases": "Cases", "findings": "Findings", "evidence": "Evidence", "reason": "Reason",
        "target": "Target", "rule": "Rule", "notes": "Notes", "explanation": "What it asks",
        "waiver": "Waiver", "expires": "expires", "approved_by": "approved by", "expired": "EXPIRED",
        "coverage": "Interfaces it bears on", "interface": "Interface", "unjudged": "Not judged",
        "crosswalk": "Same requirement in", "declaration": "The declaration in force",
        "selection": "Test selection", "gated": "left out: probe class not enabled", "counts": "Verdicts",
        "device-test": "device test", "document": "document", "attestation": "operator attestation",
        "not-run": "no case", "none": "none", "exit": "Exit code", "language": "日本語",
        "PASS": "PASS", "FAIL": "FAIL", "ERROR": "ERROR", "INCONCLUSIVE": "INCONCLUSIVE",
        "NOT_EVALUATED": "NOT EVALUATED", "NOT_APPLICABLE": "NOT APPLICABLE", "ADVISORY": "ADVISORY",
    },
    "ja": {
        "title": "セキュリティラベル評価報告", "device": "機器", "firmware": "ファームウェア", "units": "個体",
        "bundle": "証跡バンドル", "digest": "署名対象ダイジェスト (SHA-256)", "signer": "署名鍵",
        "embedded": "このページはバンドルに封入されています。最初に封印された証跡から作成され、その署名対象は "
                    "reports/evidence.dsse.json に保存されています（`iot-harness bundle verify` で検証できます）。",
        "verified": "検証済み: 全ファイルが署名済みハッシュと一致", "files": "ファイル",
        "status": "実行", "complete": "完了", "incomplete": "未完了", "started": "開始", "finished": "終了",
        "operator": "評価者", "tool": "ハーネス", "classes": "許可した試験区分", "policies": "ポリシー",
        "rejudged": "次のバンドルの記録から再判定", "requirement": "要求事項", "verdict": "判定",
        "how": "評価方法", "what_to_change": "改善すべき点", "cases": "試験ケース", "findings": "所見",
        "evidence": "証跡", "reason": "理由", "target": "対象", "rule": "規則", "notes": "注記",
        "explanation": "要求の内容", "waiver": "猶予", "expires": "期限", "approved_by": "承認者",
        "expired": "期限切れ", "coverage": "関係するインタフェース", "interface": "インタフェース",
        "unjudged": "未判定", "crosswalk": "他制度の対応項目", "declaration": "適用した申告内容",
        "selection": "試験の選択", "gated": "除外: 試験区分が未許可", "counts": "判定の件数",
        "device-test": "機器試験", "document": "文書確認", "attestation": "評価者の確認",
        "not-run": "ケースなし", "none": "なし", "exit": "終了コード", "language": "English",
        "PASS": "適合", "FAIL": "不適合", "ERROR": "エラー", "INCONCLUSIVE": "判定不能",
        "NOT_EVALUATED": "未評価", "NOT_APPLICABLE": "対象外", "ADVISORY": "助言",
    },
}

SCHEME_NAMES = {"jc-star-1": "JC-STAR ★1", "nist-ir-8259a": "NIST IR 8259A", "nist-ir-8259b": "NIST IR 8259B"}
CROSSWALK_NAMES = {"etsi_en_303_645": "ETSI EN 303 645", "nistir_8425": "NISTIR 8425",
                   "nist_ir_8259a": "NIST IR 8259A"}


@dataclass(frozen=True)
class EvidenceLink:
    path: str
    sha256: str


@dataclass
class FindingView:
    finding: Finding
    evidence: list[EvidenceLink]


@dataclass
class CaseView:
    case: CaseResult
    findings: list[FindingView]
    evidence: list[EvidenceLink]


@dataclass
class RequirementView:
    req: RequirementResult
    how: str  # device-test, document, attestation, joined by + when several; or not-run
    cases: list[CaseView]
    coverage: list[CoverageRow]
    fixes: list[str]

    @property
    def hows(self) -> list[str]:
        return self.how.split("+")

    @property
    def attested_only(self) -> bool:
        """Only an operator's answer stands behind the verdict: every report says so."""
        return self.how == "attestation"

    @property
    def title_ja(self) -> str:
        return self.req.title_ja or self.req.title


@dataclass
class SchemeView:
    scheme: str
    name: str
    counts: dict[str, int]
    requirements: list[RequirementView]


@dataclass
class ReportView:
    bundle: VerifiedBundle
    schemes: list[SchemeView]
    declaration: dict[str, Any]
    selection: list[CaseResult] = field(default_factory=list)


def how_evaluated(req: RequirementResult, cases: list[CaseResult]) -> str:
    """A requirement some case judged was evaluated by that case's method (a device test, or the
    document or attestation check the case is); one no case reached says so, never its catalog method."""
    if req.evaluated_by:
        return "+".join(req.evaluated_by)
    judged = [c for c in cases if c.verdict != "NOT_EVALUATED"]
    if not judged:
        return "not-run"
    # a bundle from before cases carried their method
    return req.method if req.method in ("document", "attestation") else "device-test"


def build(bundle: VerifiedBundle) -> ReportView:
    results, hashes = bundle.results, bundle.hashes()

    def links(paths: list[str]) -> list[EvidenceLink]:
        return [EvidenceLink(p, hashes.get(p, "not in the signed file list")) for p in paths]

    by_id = {c.id: c for c in results.cases}
    schemes = []
    for scheme in results.schemes:
        reqs = [r for r in results.requirements if r.scheme == scheme]
        views = []
        for r in reqs:
            cases = [by_id[c] for c in r.cases if c in by_id]
            case_views = [CaseView(c, [FindingView(f, links(f.evidence)) for f in c.findings], links(c.evidence))
                          for c in cases]
            fixes = list(dict.fromkeys(f.fix for c in cases for f in c.findings
                                       if f.fix and f.verdict in ("FAIL", "ADVISORY")))
            views.append(RequirementView(r, how_evaluated(r, cases), case_views,
                                         [row for row in results.coverage if row.requirement == r.id], fixes))
        counts = Counter(str(r.verdict) for r in reqs)
        schemes.append(SchemeView(scheme, SCHEME_NAMES.get(scheme, scheme),
                                  {str(v): counts[v] for v in SEVERITY if counts[v]}, views))
    try:
        declaration = bundle.profile_data()
    except (OSError, ValueError):
        declaration = {}
    return ReportView(bundle, schemes, declaration, list(results.cases))
