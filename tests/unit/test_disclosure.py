"""Discovery disclosure rules on synthetic advertisements: what is security-relevant, what the
profile may justify, and that similar-looking values are not mistaken for the real ones."""

from pathlib import Path

from harness.declaration.profile import load_profile
from harness.judgement.disclosure import find, model_mentions, summarise
from harness.observation.probes.discovery import Advertised, _txt, description_fields

ROOT = Path(__file__).resolve().parents[2]


def _router():
    p = load_profile(ROOT / "device_profiles/lab/router.yaml")
    return p, p.units[0]


def test_serial_firmware_os_mac_and_paths_are_found():
    profile, unit = _router()  # serial LAB0001, firmware 2.0.1
    adv = [
        Advertised("upnp-description", "u", "serialNumber", "LAB0001"),
        Advertised("upnp-description", "u", "modelNumber", "2.0.1"),
        Advertised("ssdp", "st", "SERVER", "Linux/5.10.4 UPnP/1.1 MiniUPnPd/2.3.1"),
        Advertised("mdns", "i", "TXT mac", "02:81:23:22:90:01"),
        Advertised("mdns", "i", "TXT log", "/var/log/cam.log"),
        Advertised("upnp-description", "u", "modelName", "LabRouter1"),
    ]
    kinds = [d.kind for d in find(adv, profile, unit)]
    assert kinds == ["serial-number", "firmware-version", "os-version", "mac-address", "internal-path"]
    assert summarise(find(adv, profile, unit)).startswith("the serial number")
    assert [a.value for a in model_mentions(adv, "LabRouter1")] == ["LabRouter1"]


def test_lookalike_versions_and_urls_are_not_findings():
    profile, unit = _router()
    adv = [
        Advertised("upnp-description", "u", "modelNumber", "12.0.11"),
        Advertised("upnp-description", "u", "modelNumber", "2.0.10"),
        Advertised("ssdp", "st", "LOCATION", "http://198.18.0.12:5000/etc/rootDesc.xml"),
        Advertised("upnp-description", "u", "modelName", "LabRouter1"),
    ]
    assert find(adv, profile, unit) == []


def test_profile_may_justify_a_kind():
    profile, unit = _router()
    data = profile.model_dump()
    data["discovery"] = {"may_reveal": ["firmware-version"], "justification": "the app offers updates by version"}
    justified = type(profile).model_validate(data)
    found = find([Advertised("mdns", "i", "TXT fw", "2.0.1")], justified, unit)
    assert [(d.kind, d.justified) for d in found] == [("firmware-version", True)]


def test_txt_records_and_hostile_xml():
    assert _txt(b"\x09model=Cam\x08fw=1.0.3\x00\x04flag") == {"model": "Cam", "fw": "1.0.3", "flag": ""}
    xml = "<root xmlns='urn:schemas-upnp-org:device-1-0'><device><serialNumber>S1</serialNumber></device></root>"
    assert [(a.field, a.value) for a in description_fields(xml, "u")] == [("serialNumber", "S1")]
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><root>&b;</root>'
    import pytest
    from defusedxml import DefusedXmlException

    with pytest.raises(DefusedXmlException):
        description_fields(bomb, "u")


def _undeclared():
    """A profile that knows neither serial, MAC nor firmware (written from a vendor's sheet)."""
    profile, _ = _router()
    data = profile.model_dump()
    data["identity"]["firmware_version"] = "unknown"
    data["units"][0]["serial"] = None
    p = type(profile).model_validate(data)
    return p, p.units[0]


def test_identifiers_by_meaning_and_shape_without_any_declaration():
    """Class 7 of the 'devices we did not build' issue: a serial in a UPnP description and a status
    endpoint giving serial, MAC and firmware were not reported unless the profile declared them."""
    profile, unit = _undeclared()
    adv = [
        Advertised("upnp-description", "u", "serialNumber", "ZX-99812-A"),
        Advertised("upnp-description", "u", "UDN", "uuid:6f1d2c3a-9b7e-4c21-8d0f-0a1b2c3d4e5f"),
        Advertised("http-json", "/api/status", "device.serial_no", "QX7781234"),
        Advertised("http-json", "/api/status", "network.macAddress", "0281232290ab"),
        Advertised("http-json", "/api/status", "fw_version", "4.2.17"),
        Advertised("http-text", "/", "body", "Firmware V3.1.4 build 2201"),
    ]
    found = {(d.field, d.kind) for d in find(adv, profile, unit)}
    assert found >= {("serialNumber", "serial-number"), ("UDN", "device-uuid"), ("device.serial_no", "serial-number"),
                     ("network.macAddress", "mac-address"), ("fw_version", "firmware-version"),
                     ("body", "firmware-version")}


def test_names_and_values_that_only_look_alike_are_not_identifiers():
    profile, unit = _undeclared()
    adv = [
        Advertised("upnp-description", "u", "modelNumber", "12.0.11"),  # a model number, not firmware
        Advertised("http-json", "/api/status", "api_version", "2"),  # an API version
        Advertised("http-json", "/api/status", "fw_version", "latest"),  # no version shape
        Advertised("http-json", "/api/status", "sn", "0"),  # too short to be a serial
        Advertised("http-json", "/api/status", "uptime", "12:01:33"),
    ]
    assert find(adv, profile, unit) == []


def test_an_snmp_sysdescr_is_read_from_the_harness_own_answer_or_from_a_scan_recorded_before():
    """The UDP scan keeps what an agent told the community public (`sysdescr`); a scan recorded
    when nmap's snmp-sysdescr script asked kept it as the script's output, first line first."""
    from harness.judgement.disclosure import snmp_advertised
    from harness.observation.probes.portscan import PortScan, public_sysdescr

    now = PortScan("198.18.0.10", [161], "nmap", "", 0.1, sysdescr={161: "Cam 1.0.3 (Linux 5.10)"})
    before = PortScan("198.18.0.10", [161], "nmap", "", 0.1,
                      scripts={161: {"snmp-sysdescr": "Cam 1.0.3 (Linux 5.10)\n  System uptime: 7m"}})
    silent = PortScan("198.18.0.10", [], "nmap", "", 0.1, states={161: "open|filtered"})
    assert public_sysdescr(now, 161) == "Cam 1.0.3 (Linux 5.10)" and public_sysdescr(silent, 161) is None
    assert [a.value for a in snmp_advertised(now)] == [a.value for a in snmp_advertised(before)] == [
        "Cam 1.0.3 (Linux 5.10)"]
    assert snmp_advertised(silent) == []
