"""labgrid places without a farm: what is refused before any connection (an out-of-scope or
malformed coordinator address, bad tag filters, a coordinator that is not there), and how held
places are matched to the profile's units. Runs that could reach for an address do so inside an
empty network namespace (`unshare -n`), so even a mistake here sends nothing off the machine."""

import re
import subprocess
import sys
import textwrap

import pytest

from harness.declaration.profile import DeviceProfile
from harness.run.places import (
    HeldPlace,
    PlaceError,
    PlaceResource,
    coordinator_address,
    parse_tags,
    units_on_places,
)
from tests.conftest import ROOT

NETLESS = ["unshare", "--net"] if subprocess.run(["unshare", "--net", "true"]).returncode == 0 else []

PROFILE = textwrap.dedent("""
    identity: {vendor: V, model: M, firmware_version: "1"}
    units: [{name: u1, address: 127.0.0.61}, {name: u2, address: 127.0.0.62}]
    services: [{name: ssh, port: 22, protocol: ssh, purpose: maintenance, authentication: public-key}]
    credentials: {kind: unique-per-unit}
    schemes: [jc-star-1]
""")


@pytest.mark.parametrize("address", ["10.0.0.1:20408", "192.168.1.5:20408", "8.8.8.8:20408", "[2001:db8::1]:20408",
                                     "coordinator.example:20408"])
def test_a_coordinator_off_this_machine_or_the_lab_network_is_refused(address):
    with pytest.raises(PlaceError, match=r"out of scope|not a name"):
        coordinator_address(address)


def test_coordinator_addresses_in_scope_are_normalised():
    assert coordinator_address(None) == "127.0.0.1:20408"
    assert coordinator_address("localhost:5000") == "127.0.0.1:5000"
    assert coordinator_address("198.18.0.1:20408") == "198.18.0.1:20408"
    assert coordinator_address("[::1]:20408") == "[::1]:20408"
    with pytest.raises(PlaceError, match="HOST:PORT"):
        coordinator_address("127.0.0.1")


def test_tag_filters_are_parsed_or_refused_naming_the_part():
    assert parse_tags(["model=LabCam100,unit=cam"]) == [{"model": "LabCam100", "unit": "cam"}]
    with pytest.raises(PlaceError, match="key=value"):
        parse_tags(["model"])
    with pytest.raises(PlaceError, match="not understood"):
        parse_tags(["model=Lab Cam"])


def _place(name: str, *addresses: str) -> HeldPlace:
    resources = [PlaceResource("e", "g", "NetworkService", f"r{i}", a, 22) for i, a in enumerate(addresses)]
    return HeldPlace(name=name, tags={}, acquired_by="t/u", resources=resources)


def test_places_must_each_hold_one_declared_unit():
    import yaml

    profile = DeviceProfile.model_validate(yaml.safe_load(PROFILE))
    held = [_place("p2", "127.0.0.62")]
    assert units_on_places(profile, held) == ["u2"] and held[0].unit == "u2"
    with pytest.raises(PlaceError, match="declares for no unit"):
        units_on_places(profile, [_place("p", "127.0.0.99")])
    with pytest.raises(PlaceError, match="2 network address"):
        units_on_places(profile, [_place("p", "127.0.0.61", "127.0.0.62")])
    with pytest.raises(PlaceError, match="another acquired place holds too"):
        units_on_places(profile, [_place("a", "127.0.0.61"), _place("b", "127.0.0.61")])
    narrowed = profile.only_units(["u2"])
    assert [u.name for u in narrowed.units] == ["u2"] and narrowed.services == profile.services


@pytest.mark.parametrize(("args", "expected"), [
    (["--lg-coordinator", "10.1.2.3:20408", "--lg-place", "p"], "out of scope, nothing was sent"),
    (["--lg-tags", "model"], "give key=value pairs"),
    (["--lg-place", "p", "--lg-coordinator", "127.0.0.1:1"], "did not answer|is it running"),
])
def test_run_refuses_bad_place_options_before_any_unit_is_touched(tmp_path, args, expected):
    prof = tmp_path / "p.yaml"
    prof.write_text(PROFILE)
    # inside an empty network namespace: a refusal that failed would reach for nothing
    cmd = [*NETLESS, "sh", "-c", 'ip link set lo up 2>/dev/null; exec "$0" "$@"'] if NETLESS else []
    r = subprocess.run([*cmd, sys.executable, "-m", "harness.run.cli", "run", "--profile", str(prof),
                        "--out", str(tmp_path / "b"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert re.search(expected, r.stderr), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "b").exists()
