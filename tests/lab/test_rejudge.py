"""Re-judging a bundle offline: the same observations judged under a revised policy give exactly
what a live run under that policy gives, with no device to talk to. Runs last: it takes the lab
down first, and re-judges inside an empty network namespace, so no device could answer."""

import json
import subprocess
import sys

import pytest
import yaml

from harness.record.bundle import verify
from lab import manager
from tests.conftest import LAB_PROFILES, ROOT
from tests.lab.conftest import DEVICES, assess

pytestmark = [pytest.mark.lab, pytest.mark.lab_last]

NIST = "nist-sp800-52r2"


def _rejudge(bundle, out, *extra):
    prefix = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []
    r = subprocess.run([*prefix, sys.executable, "-m", "harness.run.cli", "rejudge", str(bundle), "--out", str(out),
                        *extra], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert (out / "results.json").exists(), r.stdout + r.stderr
    res = json.loads((out / "results.json").read_text())
    return r, res, {c["id"]: c for c in res["cases"]}


def _tls_judgement(bundle, case):
    out = []
    for rel in case["evidence"]:
        if rel.endswith("tls-verdict.json"):
            v = json.loads((bundle / rel).read_text())
            out.append((v["endpoint"], v["policy"], [(x["rule"], x["detail"], x["source"]) for x in v["violations"]]))
    return sorted(out)


def test_rejudged_tls_verdicts_match_a_live_run_under_that_policy(assessments, tmp_path):
    cam = assessments["cam"]
    profile = yaml.safe_load((LAB_PROFILES / "cam.yaml").read_text())
    profile.setdefault("communication", {})["tls_policy"] = NIST
    (tmp_path / "cam-nist.yaml").write_text(yaml.safe_dump(profile))
    live = assess(tmp_path / "cam-nist.yaml", tmp_path / "live", suite="communication")

    manager.down(quiet=True)  # from here on no lab device exists
    r, res, cases = _rejudge(cam.out, tmp_path / "re", "--tls-policy", NIST)
    tls_cases = [cid for cid in live.cases if cid.startswith("communication.tls_")]
    assert tls_cases
    for cid in tls_cases:
        ours, theirs = cases[cid], live.cases[cid]
        assert ours["judged"] == "rejudged" and theirs["judged"] == "live"
        assert ours["verdict"] == theirs["verdict"], (cid, ours["reason"], theirs["reason"])
        key = [(f["target"], f["rule"], f["verdict"], f["policy"], f["reason"]) for f in ours["findings"]]
        assert key == [(f["target"], f["rule"], f["verdict"], f["policy"], f["reason"]) for f in theirs["findings"]]
        assert _tls_judgement(tmp_path / "re", ours) == _tls_judgement(live.out, theirs)
    assert any(f["policy"].startswith(NIST) for cid in tls_cases for f in cases[cid]["findings"] if f["policy"])

    manifest = json.loads((tmp_path / "re" / "manifest.json").read_text())
    assert manifest["rejudged_from"]["digest"] == verify(cam.out).digest
    assert manifest["policies"]["tls"].startswith(NIST) and manifest["connections"] == {}
    assert manifest["scope"]["targets"] == []
    # what needs the device is carried, saying so, with its evidence copied into the new bundle
    carried = cases["credentials.default_password[cam:ssh/22]"]
    assert carried["judged"] == "carried" and carried["verdict"] == "FAIL" and "carried from" in carried["reason"]
    assert all((tmp_path / "re" / e).is_file() for e in carried["evidence"])
    assert subprocess.run([sys.executable, "-m", "harness.run.cli", "bundle", "verify", str(tmp_path / "re")],
                          cwd=ROOT).returncode == 0
    assert r.returncode == res["summary"]["exit_code"] == 1


def test_rejudging_under_the_same_policies_reproduces_every_verdict(assessments, tmp_path):
    for device in DEVICES:
        original = assessments[device]
        _r, res, cases = _rejudge(original.out, tmp_path / device)
        assert set(cases) == set(original.cases)
        for cid, case in cases.items():
            assert case["verdict"] == original.cases[cid]["verdict"], (device, cid, case["reason"])
        rejudged = [c for c in cases.values() if c["judged"] == "rejudged"]
        judged_anew = {"communication.no_cleartext_interfaces", "exposure.tcp_ports_declared",
                       "exposure.udp_ports_declared", "exposure.no_insecure_services", "exposure.discovery_disclosure",
                       "exposure.web_disclosure"}
        for check in ("communication.tls_configuration", "communication.ssh_algorithms"):
            if f"{check}[none-declared]" not in cases:  # judged anew wherever the device has one
                judged_anew.add(check)
        assert {c["check"] for c in rejudged} >= judged_anew, (device, judged_anew - {c["check"] for c in rejudged})
        assert [r["verdict"] for r in res["requirements"]] == [r["verdict"] for r in original.results["requirements"]]


ALL_SCHEMES = ["jc-star-1", "nist-ir-8259a", "nist-ir-8259b", "etsi-en-303-645", "nistir-8425", "uk-psti"]


@pytest.mark.parametrize("device", ["hub", "cam"])
def test_one_run_answers_every_scheme_each_with_its_own_verdict_table(assessments, tmp_path, device):
    """The same evidence judged for all six catalogs at once (offline, from the session's bundle, with
    the declaration asking for every scheme): each scheme gets its own table, and a document or
    device check counts for every requirement it bears on in each of them."""
    profile = yaml.safe_load((LAB_PROFILES / f"{device}.yaml").read_text())
    profile["schemes"] = ALL_SCHEMES
    (tmp_path / f"{device}-all.yaml").write_text(yaml.safe_dump(profile))
    r, res, _ = _rejudge(assessments[device].out, tmp_path / "re", "--profile", str(tmp_path / f"{device}-all.yaml"))
    assert res["schemes"] == ALL_SCHEMES
    for scheme in ALL_SCHEMES:
        assert f"\n{scheme}  " in r.stdout, r.stdout
    reqs = {q["id"]: q for q in res["requirements"]}
    assert {q["scheme"] for q in res["requirements"]} == set(ALL_SCHEMES)
    published = ["S1.1-05", "5.2-1", "8425-IQR", "PSTI-2", "S1.1-16", "5.3-13", "PSTI-3"]
    if device == "hub":  # publishes a complete set
        assert {i: reqs[i]["verdict"] for i in published} == dict.fromkeys(published, "PASS")
        assert reqs["PSTI-2"]["evaluated_by"] == ["document"]
    else:  # a policy without a contact, no support period
        assert {i: reqs[i]["verdict"] for i in published} == dict.fromkeys(published, "FAIL")
        # its telnet default password fails the password provisions of every scheme
        assert reqs["S1.1-02"]["verdict"] == reqs["5.1-1"]["verdict"] == reqs["PSTI-1"]["verdict"] == "FAIL"
        # and its SBOM, contradicted by what its services say they run, fails the component inventory
        assert reqs["8425-AI"]["verdict"] == "FAIL"
        assert any("sbom_versions_match" in c for c in reqs["8425-AI"]["cases"])
    # what only a person can answer stays NOT_EVALUATED, and says so, in every scheme
    for rid in ("5.6-4", "PSTI-SOC", "S1.1-11"):
        assert reqs[rid]["verdict"] == "NOT_EVALUATED" and reqs[rid]["evaluated_by"] == []
    assert verify(tmp_path / "re").ok
