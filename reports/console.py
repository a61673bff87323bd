"""The closing table a person reads at the end of a run: one line per requirement."""

from __future__ import annotations

from harness.record.reader import VerifiedBundle
from harness.record.results import Results

FORMAT = "text"

MARK = {
    "PASS": "PASS",
    "FAIL": "FAIL",
    "NOT_APPLICABLE": "N/A",
    "INCONCLUSIVE": "INCONCLUSIVE",
    "ERROR": "ERROR",
    "NOT_EVALUATED": "not evaluated",
    "ADVISORY": "ADVISORY",
}
EXIT_MEANING = {0: "pass", 1: "FAIL", 2: "run did not finish", 3: "incomplete assessment"}


def render(bundle: VerifiedBundle) -> str:
    return table(bundle.results, str(bundle.root), bundle.manifest.rejudged_from is not None) + "\n"


# The order a reader meets requirements in: what to fix first, what is settled last.
GROUPS = ("FAIL", "ERROR", "INCONCLUSIVE", "NOT_EVALUATED", "ADVISORY", "PASS", "NOT_APPLICABLE")


def table(results: Results, bundle: str | None = None, rejudged: bool = False) -> str:
    """Per scheme, its verdict counts, then the requirements grouped worst first. A NOT_EVALUATED
    requirement is listed on its own line when it leaves the assessment incomplete (an interface
    it bears on went unjudged, an input was missing); those nothing automated evaluates (document
    or attestation evidence, or a probe class the operator left off) share one line, so the FAILs
    are never buried under them."""
    dev = results.device
    lines = [f"{dev.vendor} {dev.model} (firmware {dev.firmware_version}), "
             f"units: {', '.join(u.name + ' ' + u.address for u in dev.units)}"]
    if rejudged:
        lines.append("re-judged from recorded observations (no device contact); carried cases say so")
    if not results.complete:
        lines.append("!! INCOMPLETE RUN: verdicts below cover only the cases that finished")
    cases = {c.id: c for c in results.cases}
    incomplete = set(results.summary.incomplete_requirements)
    for scheme in results.schemes:
        reqs = [r for r in results.requirements if r.scheme == scheme]
        counts = {v: sum(r.verdict == v for r in reqs) for v in GROUPS}
        lines.append("")
        lines.append(f"{scheme}  " + " · ".join(f"{MARK[v]} {n}" for v, n in counts.items() if n))
        width = max((len(r.id) for r in reqs), default=6)
        collapsed = [r for r in reqs if r.verdict == "NOT_EVALUATED" and r.id not in incomplete and not r.unjudged]
        for group in GROUPS:
            for r in (r for r in reqs if r.verdict == group and r not in collapsed):
                flag = " (provisional)" if r.provisional else ""
                waiver = " [waived]" if r.waiver and r.waiver.active else ""
                attested = " [attested by the operator, not a device test]" if r.evaluated_by == ["attestation"] else ""
                lines.append(f"  {r.id:<{width}}  {MARK[r.verdict]:<13} {r.title}{flag}{waiver}{attested}")
                if r.verdict in ("FAIL", "ERROR", "INCONCLUSIVE", "ADVISORY", "NOT_EVALUATED"):
                    for cid in r.cases:
                        case = cases[cid]
                        if case.verdict == r.verdict and case.reason:
                            lines.append(f"  {'':<{width}}  {'':<13} - {cid}: {case.reason.splitlines()[0][:140]}")
                if r.unjudged:  # what was not looked at is why it is not a PASS
                    lines.append(f"  {'':<{width}}  {'':<13} - not judged: {', '.join(r.unjudged)[:140]}")
        asked = [r for r in collapsed if any(n.startswith("needs operator answer") for n in r.notes)]
        rest = [r for r in collapsed if r not in asked]
        if asked:
            lines.append(f"  {MARK['NOT_EVALUATED']} ({len(asked)}): {', '.join(r.id for r in asked)}"
                         " - need an operator answer (--answers FILE, or --ask at a terminal)")
        if rest:
            lines.append(f"  {MARK['NOT_EVALUATED']} ({len(rest)}): {', '.join(r.id for r in rest)}"
                         " - no automated case judged these (document or attestation evidence, or a probe class"
                         " left off); the report says what each needs")
    s = results.summary
    lines.append("")
    lines.append("requirements: " + ", ".join(f"{k} {v}" for k, v in s.requirements.items()))
    lines.append("cases:        " + ", ".join(f"{k} {v}" for k, v in s.cases.items()))
    if s.incomplete_requirements:
        lines.append("incomplete:   " + ", ".join(s.incomplete_requirements))
    lines.append(f"exit code:    {s.exit_code} ({EXIT_MEANING.get(s.exit_code, '?')})")
    if bundle:
        lines.append(f"bundle:       {bundle}")
    return "\n".join(lines)
