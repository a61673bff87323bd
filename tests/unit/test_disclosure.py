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
