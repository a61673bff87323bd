"""The SNMP community probe against real Net-SNMP agents on loopback: one that answers the factory
communities (one of them read-write) and an SNMPv3 user without authentication, one that speaks
SNMPv3 with privacy only, and an address where nothing listens. (The lab proves the
check both ways: the camera's "public" agent FAILs, the router's SNMPv3-only agent PASSes.)"""

import shutil
import subprocess
import time

import pytest

from harness.observation.probes.snmp import WRITE_TARGETS, SnmpProbe, write_test
from harness.observation.scope import Scope, ScopeGuard, exchange_deadline

PORT = 16161
PUBLIC, V3_ONLY, NOTHING = "127.0.0.91", "127.0.0.92", "127.0.0.93"
TIMEOUT = 1.0
V3_USER = 'createUser labv3 SHA "labv3-auth-pass" AES "labv3-priv-pass"\nrouser labv3 priv\n'


@pytest.fixture(scope="module")
def agents(tmp_path_factory):
    if shutil.which("snmpd") is None:
        pytest.fail("snmpd is not installed (scripts/setup.sh installs it: apt-get install snmpd)")
    tmp = tmp_path_factory.mktemp("snmpd")
    procs = []
    for address, conf in ((PUBLIC, "rocommunity public 127.0.0.0/8\nrwcommunity private 127.0.0.0/8\n"
                                   "sysDescr Sensor-1 firmware 3.1\nsysContact pinned@example.invalid\n"
                                   "createUser initial\nrouser initial noauth\n" + V3_USER),
                          (V3_ONLY, V3_USER)):
        (tmp / address).mkdir()
        (tmp / address / "snmpd.conf").write_text(conf)
        procs.append(subprocess.Popen(
            ["snmpd", "-f", "-Lo", "-C", "-c", str(tmp / address / "snmpd.conf"), "-I", "-smux",
             f"--persistentDir={tmp / address}", f"udp:{address}:{PORT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if SnmpProbe(ScopeGuard(Scope.build([PUBLIC])), PUBLIC, PORT, 0.3).read("public", "v2c")[0]:
            break
    yield
    for p in procs:
        p.terminate()
        p.wait(5)


def probe(address):
    return SnmpProbe(ScopeGuard(Scope.build([address])), address, PORT, TIMEOUT)


def test_a_factory_community_is_read_and_a_wrong_one_is_not(agents):
    assert probe(PUBLIC).read("public", "v2c") == (True, "Sensor-1 firmware 3.1")
    assert probe(PUBLIC).read("public", "v1")[0] is True
    answered, why = probe(PUBLIC).read("iot-harness-wrong", "v2c")
    assert answered is False and "no answer" in why


def test_an_snmpv3_only_agent_is_told_from_no_agent(agents):
    assert probe(V3_ONLY).read("public", "v2c")[0] is False
    assert probe(V3_ONLY).v3_engine() is not None
    t0 = time.monotonic()
    assert probe(NOTHING).read("public", "v2c")[0] is False and probe(NOTHING).v3_engine() is None
    assert time.monotonic() - t0 < 2 * exchange_deadline(TIMEOUT)


def test_an_address_out_of_scope_is_refused_before_any_datagram():
    from harness.observation.scope import ScopeViolation

    with pytest.raises(ScopeViolation):
        SnmpProbe(ScopeGuard(Scope.build([PUBLIC])), "127.0.0.99", PORT, TIMEOUT).read("public", "v2c")


def test_a_read_write_community_is_proven_writable_and_put_back(agents):
    location = dict(WRITE_TARGETS)["sysLocation"]
    before = probe(PUBLIC).get("private", "v2c", location)
    result = write_test(probe(PUBLIC), "private", "v2c")
    assert result["outcome"] == "accepted", result
    (row,) = result["tries"]
    assert row["object"] == "sysLocation" and row["set_same_value"] == "noError"
    assert row["took_effect"] is True and row["restored"] is True
    assert probe(PUBLIC).get("private", "v2c", location) == before  # really put back


def test_a_read_only_community_is_refused_and_a_pinned_object_proves_nothing(agents):
    result = write_test(probe(PUBLIC), "public", "v2c")
    assert result["outcome"] == "refused" and result["tries"][0]["set_same_value"] == "noAccess"
    # Net-SNMP pins an object its configuration sets: the refusal is of the object, not the community
    contact = dict(WRITE_TARGETS)["sysContact"]
    assert probe(PUBLIC).set("private", "v2c", contact, "x") == ("undetermined", "notWritable")


def test_an_snmpv3_user_without_authentication_is_told_from_one_that_needs_it(agents):
    outcome, detail = probe(PUBLIC).v3_user("initial")
    assert outcome == "answered" and detail == "Sensor-1 firmware 3.1"
    assert probe(V3_ONLY).v3_user("initial")[0] == "unknown-user"
    assert probe(V3_ONLY).v3_user("labv3")[0] == "refused"  # known, but not without authentication
    assert probe(NOTHING).v3_user("initial")[0] == "no-answer"


def test_one_engine_serves_every_exchange_of_the_process_and_is_closed_with_the_client(agents):
    """One engine for every exchange, whatever was asked before on it, from one thread or several
    at once, through one probe or several, SNMPv3 included (it loads its MIBs once, not per read);
    closing the client closes it and stops its thread."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.observation.probes import snmp

    snmp._client.close()
    p = probe(PUBLIC)
    answers = [p.read(c, v) for c, v in (("public", "v2c"), ("iot-harness-wrong", "v2c"), ("public", "v1"),
                                           ("private", "v2c"))]
    assert [a[0] for a in answers] == [True, False, True, True] and answers[0][1] == "Sensor-1 firmware 3.1"
    with ThreadPoolExecutor(3) as pool:
        again = list(pool.map(lambda c: probe(PUBLIC).read(c, "v2c"), ["public", "iot-harness-wrong", "private"]))
    assert [a[0] for a in again] == [True, False, True]
    assert p.v3_engine() is not None and p.v3_user("initial") == ("answered", "Sensor-1 firmware 3.1")
    assert p.v3_user("iot-harness-nobody")[0] == "unknown-user"
    assert probe(V3_ONLY).v3_engine() is not None  # another agent, the same engine
    assert p.read("public", "v2c")[0] is True  # v3 asks in between leave community reads as they were
    (engine,) = snmp._client.engines
    thread = snmp._client._thread
    snmp._client.close()
    assert engine.transport_dispatcher is None and not snmp._client.engines
    thread.join(5)
    assert not thread.is_alive()
    assert p.read("public", "v2c")[0] is True  # a client closed starts again on the next exchange


def test_an_snmpv3_only_agent_refuses_a_known_user_after_discovery_on_the_same_engine(agents):
    from harness.observation.probes import snmp

    snmp._client.close()
    p = probe(V3_ONLY)
    assert p.v3_engine() is not None
    assert [p.v3_user(u)[0] for u in ("initial", "labv3")] == ["unknown-user", "refused"]
    assert len(snmp._client.engines) == 1


def test_an_exchange_cut_at_its_deadline_retires_its_engine(agents, monkeypatch):
    import harness.observation.probes.snmp as snmp

    snmp._client.close()
    monkeypatch.setattr(snmp, "exchange_deadline", lambda timeout: 0.05)  # cut before pysnmp's own timeout
    p = SnmpProbe(ScopeGuard(Scope.build([NOTHING])), NOTHING, PORT, TIMEOUT)
    assert p.read("public", "v2c")[0] is False
    assert len(snmp._client.engines) == 1
    assert p.read("public", "v2c")[0] is False
    assert len(snmp._client.engines) == 2  # the cut engine met no other exchange


def test_an_engine_made_ahead_is_taken_by_the_first_exchange(agents):
    from harness.observation.probes import snmp

    snmp._client.close()
    snmp.make_spare_engine()
    spare = snmp._client.spare[-1]
    assert probe(PUBLIC).read("public", "v2c") == (True, "Sensor-1 firmware 3.1")
    assert snmp._client.engines == [spare] and not snmp._client.spare


def test_a_forked_process_starts_a_client_of_its_own(agents):
    """The parent's loop thread is not copied into a child: the child must not wait on it."""
    import multiprocessing

    from harness.observation.probes import snmp

    assert probe(PUBLIC).read("public", "v2c")[0] is True  # the parent's client is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_read_in_child, args=(queue,))
    child.start()
    assert queue.get(timeout=30) == (True, "Sensor-1 firmware 3.1")
    child.join(10)
    assert snmp._client.engines  # the parent's engine is still there


def _read_in_child(queue) -> None:
    queue.put(probe(PUBLIC).read("public", "v2c"))
