"""CoAP in the lab, beyond the verdict table: a CoAP service left out of the declaration gets the
same access judgement as a declared one (the plug's open writes FAIL, the hub's DTLS-only
sensors PASS), and without `--allow intrusive` the writes are never assumed refused."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT
from tests.lab.conftest import FULL, assess, profile_without

pytestmark = pytest.mark.lab


def _suite(tmp_path) -> str:
    """Only the CoAP access checks, under their usual case ids (the folder keeps its name)."""
    folder = tmp_path / "suite" / "credentials"
    folder.mkdir(parents=True)
    for name in ("__init__.py", "test_coap_access.py"):
        shutil.copy(ROOT / "test_suites" / "credentials" / name, folder / name)
    for name in ("__init__.py", "pytest.ini"):
        shutil.copy(ROOT / "test_suites" / name, tmp_path / "suite" / name)
    return str(tmp_path / "suite")


def test_undeclared_coap_gets_the_same_access_judgement_both_ways(lab, tmp_path):
    suite = _suite(tmp_path)
    plug = assess(profile_without(tmp_path, "plug", "control"), tmp_path / "plug", *FULL, "--suite", suite)
    case = plug.cases["credentials.coap_access_on_undeclared_ports[plug]"]
    assert case["verdict"] == "FAIL", case["reason"]
    assert any(f["rule"] == "coap.write_without_credentials" and "undeclared-5683" in f["target"]
               for f in case["findings"]), case["findings"]
    record = json.loads((plug.out / next(p for p in case["evidence"] if p.endswith("coap-access-undeclared.json")))
                        .read_text())
    (write,) = [w for r in record["results"] for w in r["writes"] if w.get("outcome") == "accepted"]
    assert write["path"] == "/example_data" and write["took_effect"] and write["restored"]

    hub = assess(profile_without(tmp_path, "hub", "sensors"), tmp_path / "hub", *FULL, "--suite", suite)
    case = hub.cases["credentials.coap_access_on_undeclared_ports[hub]"]
    assert case["verdict"] == "PASS", case["reason"]
    assert "handshake without a credential was refused" in case["reason"]


def test_without_intrusive_the_writes_are_not_evaluated_never_assumed_refused(lab, tmp_path):
    run = assess(profile_without(tmp_path, "plug", None), tmp_path / "plug", "--suite", _suite(tmp_path))
    case = run.cases["credentials.coap_access_without_credentials[plug:control/5683]"]
    assert case["verdict"] == "NOT_EVALUATED", case["reason"]
    assert "--allow intrusive" in case["reason"]
    assert not (run.out / "observations/plug/coap-writes-5683.json").exists()  # nothing was written
