"""The expected verdict of every case on every lab device, as data (`expected_verdicts.yaml`),
checked against the session's assessments: every case is listed, every listed case exists, each
verdict matches, and the evidence named for it shows it. A second test makes "every check proven
both ways" machine-checked: each check FAILs on some lab device and PASSes on another, or the
table names the test that proves the missing side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.lab.conftest import DEVICES

pytestmark = pytest.mark.lab

TABLE_FILE = Path(__file__).with_name("expected_verdicts.yaml")
TABLE = yaml.safe_load(TABLE_FILE.read_text())


def _entries():
    for device in DEVICES:
        for case_id, spec in TABLE[device].items():
            yield pytest.param(device, case_id, spec if isinstance(spec, dict) else {"verdict": spec},
                               id=f"{device}-{case_id}")


def _resolve(data, path: str):
    for part in str(path).split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def check_evidence(bundle: Path, case: dict, spec: dict) -> list[str]:
    """The table's evidence claims for one case; returns what does not hold."""
    problems = []
    for claim in spec.get("evidence", []):
        if "finding" in claim:
            if not any(f["rule"] == claim["finding"] for f in case["findings"]):
                problems.append(f"no finding with rule {claim['finding']!r}")
            continue
        matches = [p for p in case["evidence"] if p.endswith("/" + claim["file"])]
        if not matches:
            problems.append(f"no evidence file {claim['file']!r} (has {case['evidence']})")
            continue
        text = (bundle / matches[0]).read_text()
        if "contains" in claim and claim["contains"] not in text:
            problems.append(f"{claim['file']} does not contain {claim['contains']!r}")
        if "path" in claim:
            got = _resolve(json.loads(text), claim["path"])
            if got != claim["equals"]:
                problems.append(f"{claim['file']} {claim['path']} is {got!r}, not {claim['equals']!r}")
    return problems


@pytest.mark.parametrize("device", DEVICES)
def test_the_table_lists_exactly_the_cases_of_each_lab_device(assessments, device):
    seen, listed = set(assessments[device].cases), set(TABLE[device])
    assert not seen - listed, f"{device}: cases missing from {TABLE_FILE.name}: {sorted(seen - listed)}"
    assert not listed - seen, f"{device}: {TABLE_FILE.name} lists cases the run no longer has: {sorted(listed - seen)}"


@pytest.mark.parametrize(("device", "case_id", "spec"), list(_entries()))
def test_case_has_its_expected_verdict_and_evidence(assessments, device, case_id, spec):
    run = assessments[device]
    case = run.cases.get(case_id)
    assert case is not None, f"{device} has no case {case_id}"
    assert case["verdict"] == spec["verdict"], f"{case_id}: {case['verdict']} ({case['reason'][:300]})"
    if "reason" in spec:
        assert spec["reason"] in case["reason"], case["reason"]
    assert case["findings"] or case["verdict"] == "NOT_EVALUATED"
    for f in case["findings"]:  # every file a finding rests on is in the bundle
        assert all((run.out / e).is_file() for e in f["evidence"]), f
    problems = check_evidence(run.out, case, spec)
    assert not problems, problems


def _check(case_id: str) -> str:
    return case_id.split("[", 1)[0]


def test_every_check_is_proven_both_ways():
    verdicts: dict[str, set[str]] = {}
    for device in DEVICES:
        for case_id, spec in TABLE[device].items():
            v = spec if isinstance(spec, str) else spec["verdict"]
            verdicts.setdefault(_check(case_id), set()).add(v)
    elsewhere = TABLE.get("proven_elsewhere", {})
    missing = []
    for check, seen in sorted(verdicts.items()):
        for side in ("FAIL", "PASS"):
            if side in seen:
                continue
            where = elsewhere.get(check, {}).get(side)
            if not where:
                missing.append(f"{check}: no lab device shows {side}")
                continue
            path, _, name = where.partition("::")
            assert f"def {name}(" in (ROOT / path).read_text(), f"{check}: {where} does not exist"
    assert not missing, "every check must FAIL on one lab device and PASS on another:\n  " + "\n  ".join(missing)


def test_every_lab_results_file_validates_against_the_exported_schema(assessments):
    import jsonschema

    schema = json.loads((ROOT / "harness" / "record" / "schemas" / "results.schema.json").read_text())
    manifest_schema = json.loads((ROOT / "harness" / "record" / "schemas" / "manifest.schema.json").read_text())
    for run in assessments.values():
        jsonschema.validate(run.results, schema)
        jsonschema.validate(json.loads((run.out / "manifest.json").read_text()), manifest_schema)
