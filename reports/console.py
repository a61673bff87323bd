"""The closing table a person reads at the end of a run: one line per requirement."""

from __future__ import annotations

from typing import Any

MARK = {
    "PASS": "PASS",
    "FAIL": "FAIL",
    "NOT_APPLICABLE": "N/A",
    "INCONCLUSIVE": "INCONCLUSIVE",
    "ERROR": "ERROR",
    "NOT_EVALUATED": "not evaluated",
}


def render(results: dict[str, Any], bundle: str | None = None) -> str:
    dev = results["device"]
    lines = [f"{dev['vendor']} {dev['model']} (firmware {dev['firmware_version']}), "
             f"units: {', '.join(u['name'] + ' ' + u['address'] for u in dev['units'])}"]
    if not results.get("complete", True):
        lines.append("!! INCOMPLETE RUN: verdicts below cover only the cases that finished")
    cases = {c["id"]: c for c in results["cases"]}
    for scheme in results["schemes"]:
        reqs = [r for r in results["requirements"] if r["scheme"] == scheme]
        lines.append("")
        lines.append(f"{scheme}")
        width = max((len(r["id"]) for r in reqs), default=6)
        for r in reqs:
            flag = " (provisional)" if r.get("provisional") else ""
            waiver = " [waived]" if r.get("waiver", {}).get("active") else ""
            lines.append(f"  {r['id']:<{width}}  {MARK[r['verdict']]:<13} {r['title']}{flag}{waiver}")
            if r["verdict"] in ("FAIL", "ERROR", "INCONCLUSIVE"):
                for cid in r["cases"]:
                    case = cases[cid]
                    if case["verdict"] == r["verdict"]:
                        lines.append(f"  {'':<{width}}  {'':<13} - {cid}: {case['reason'].splitlines()[0][:140]}")
    s = results["summary"]
    lines.append("")
    lines.append("requirements: " + ", ".join(f"{k} {v}" for k, v in s["requirements"].items()))
    lines.append("cases:        " + ", ".join(f"{k} {v}" for k, v in s["cases"].items()))
    if bundle:
        lines.append(f"bundle:       {bundle}")
    return "\n".join(lines)
