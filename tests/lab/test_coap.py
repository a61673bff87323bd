"""CoAP in the lab, beyond the verdict table: a CoAP service left out of the declaration gets the
same access judgement as a declared one (the plug's open writes FAIL, the hub's DTLS-only
sensors PASS), and without `--allow intrusive` the writes are never assumed refused."""

from __future__ import annotations

import json

import pytest

from tests.lab.conftest import FULL, assess, narrowed_suite, profile_without

pytestmark = pytest.mark.lab


def test_undeclared_coap_gets_the_same_access_judgement_both_ways(lab, tmp_path):
    suite = narrowed_suite(tmp_path, "credentials", "test_coap_access.py")
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
    suite = narrowed_suite(tmp_path, "credentials", "test_coap_access.py")
    run = assess(profile_without(tmp_path, "plug", None), tmp_path / "plug", "--suite", suite)
    case = run.cases["credentials.coap_access_without_credentials[plug:control/5683]"]
    assert case["verdict"] == "NOT_EVALUATED", case["reason"]
    assert "--allow intrusive" in case["reason"]
    assert not (run.out / "observations/plug/coap-writes-5683.json").exists()  # nothing was written
