"""Bad input from a careless operator: every one ends the run before it touches a device, with
exit 2, a message naming the field, file or option and what to do, and no traceback. Run
through the CLI exactly as an operator would; no bundle folder is left behind."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import harness

ADDR = "127.0.0.93"  # nothing listens there: a run that wrongly proceeds ends quickly anyway
BASE = textwrap.dedent(f"""\
    identity: {{vendor: V, model: M, firmware_version: "1.0"}}
    units:
      - name: u1
        address: {ADDR}
        secrets: {{pw: {{value: "Sup3r-Secret-Value"}}}}
    services:
      - {{name: ssh, port: 2, protocol: ssh, purpose: maintenance, authentication: password,
          account: {{username: admin, secret: pw}}}}
    credentials: {{kind: unique-per-unit}}
    schemes: [jc-star-1]
    limits: {{connect_timeout_s: 1, port_scan_timeout_s: 5}}
""")


@dataclass
class Bad:
    says: str  # what the message must name
    profile: str | Callable[[Path], str] | None = None  # profile text (or written by a function)
    args: list[str] = field(default_factory=list)  # extra CLI arguments; {tmp} is the test folder
    out: str | None = None  # the --out given ({tmp} expanded); default a new folder


def _swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


def _service(extra: str) -> str:
    return _swap("secret: pw}}\n", f"secret: pw}}}}\n  - {extra}\n")


def _top(extra: str) -> str:
    return BASE + extra + "\n"


def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "fifo.yaml")
    return str(tmp / "fifo.yaml")


NOT_UTF8 = b"\xff\xfe\x00"

BAD: dict[str, Bad] = {
    # the profile file itself
    "profile-missing": Bad("no-such-profile.yaml", lambda t: str(t / "no-such-profile.yaml")),
    "profile-is-a-folder": Bad("not a regular file", lambda t: str(t)),
    "profile-is-a-fifo": Bad("not a regular file", _fifo),
    "profile-is-dev-zero": Bad("not a regular file", lambda t: "/dev/zero"),
    "profile-binary": Bad("UTF-8", lambda t: str(_file(t, "b.yaml", bytes(range(256)) * 4))),
    "profile-latin1": Bad("UTF-8", lambda t: str(_file(t, "l.yaml", BASE.replace("V,", "Vé,").encode("latin-1")))),
    "profile-empty": Bad("empty or not a mapping", ""),
    "profile-yaml-syntax": Bad("not valid YAML", "identity: {vendor: V\n"),
    "profile-top-level-list": Bad("not a mapping", "- a\n- b\n"),
    "profile-deeply-nested": Bad("nested", "a: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    "profile-too-large": Bad("bytes, more than the 1048576 allowed", BASE + "# " + "x" * (2 << 20) + "\n"),
    "profile-duplicate-key": Bad("is given twice", BASE + "schemes: [jc-star-1]\n"),
    "profile-huge-list": Bad("duplicate unit addresses", _swap("units:\n", "units:\n" + "".join(
        f"  - {{name: u{i}, address: 127.0.1.{i % 250}}}\n" for i in range(2, 20_000)))),
    # fields
    "field-typo": Bad("servics", BASE.replace("services:", "servics:")),
    "port-boolean": Bad("port", _swap("port: 2,", "port: true,")),
    "port-out-of-range": Bad("port", _swap("port: 2,", "port: 70000,")),
    "port-as-text": Bad("port", _swap("port: 2,", "port: 'twenty-two',")),
    "address-host-name": Bad("not an IP address", _swap(f"address: {ADDR}", "address: camera.local")),
    "address-outside-the-lab": Bad("198.51.100.7", _swap(f"address: {ADDR}", "address: 198.51.100.7")),
    "protocol-unknown": Bad("protocol", _swap("protocol: ssh", "protocol: sssh")),
    "scheme-unknown": Bad("jc-star-9", BASE.replace("schemes: [jc-star-1]", "schemes: [jc-star-9]")),
    "unit-duplicate": Bad("units", _swap("services:", "  - {name: u1, address: 127.0.0.94}\nservices:")),
    "service-names-unknown-unit": Bad("unknown unit", _service(
        "{name: web, port: 80, protocol: http, purpose: admin, authentication: password, units: [u9]}")),
    "service-name-reserved": Bad("'undeclared-'", _service(
        "{name: undeclared-tcp-80, port: 80, protocol: http, purpose: admin, authentication: password}")),
    "tls-required-on-clear-text": Bad("tls: required", _service(
        "{name: web, port: 80, protocol: http, purpose: admin, authentication: password, tls: required}")),
    "account-secret-not-on-unit": Bad("no such secret", _swap("secret: pw}", "secret: nope}")),
    "secret-env-unset": Bad("IOT_BAD_INPUT_UNSET", _swap('{value: "Sup3r-Secret-Value"}',
                                                         "{env: IOT_BAD_INPUT_UNSET}")),
    "secret-file-missing": Bad("missing-secret", lambda t: _swap('{value: "Sup3r-Secret-Value"}',
                                                                 f"{{file: {t}/missing-secret}}")),
    "secret-file-not-utf8": Bad("not UTF-8", lambda t: _swap('{value: "Sup3r-Secret-Value"}',
                                                             f"{{file: {_file(t, 's', NOT_UTF8)}}}")),
    "secret-file-dev-zero": Bad("not a regular file", _swap('{value: "Sup3r-Secret-Value"}', "{file: /dev/zero}")),
    "secret-is-a-private-key": Bad("private key, not a password", _swap(
        '{value: "Sup3r-Secret-Value"}', '{value: "-----BEGIN OPENSSH PRIVATE KEY-----\\nAAAA\\n'
        '-----END OPENSSH PRIVATE KEY-----"}')),
    "ssh-policy-path-missing": Bad("no-such-policy.yaml", _top(
        "communication: {ssh_policy: /nonexistent/no-such-policy.yaml}")),
    "tls-policy-unknown": Bad("tls_policy", _top("communication: {tls_policy: cryptrec-9}")),
    "trust-anchor-missing": Bad("no-such-ca.pem", _top(
        "communication: {trust_anchor: /nonexistent/no-such-ca.pem}")),
    "update-image-missing": Bad("no-such-fw.swu", _service(
        "{name: web, port: 80, protocol: http, purpose: update, authentication: password}") +
        "update: {method: upload, service: web, current_image: /nonexistent/no-such-fw.swu}\n"),
    "key-file-missing": Bad("no-such-key", _swap("account: {username: admin, secret: pw}",
                                                 "account: {username: admin, key_file: /nonexistent/no-such-key}")),
    "waiver-bad-date": Bad("expires", _top("waivers: [{requirement: S1.1-04, reason: lab device only here, "
                                           "expires: 31/12/2027, approved_by: QA}]")),
    "not-applicable-unknown-requirement": Bad("S9.9-99", _top(
        "not_applicable: [{requirement: S9.9-99, justification: does not apply to this product at all}]")),
    # the command line
    "out-is-a-file": Bad("exists and is not a folder", BASE, out="{tmp}/file-not-folder"),
    "out-not-empty": Bad("not empty", BASE, out="{tmp}/full"),
    "out-read-only": Bad("cannot create output folder /proc/iot-bundle", BASE, out="/proc/iot-bundle"),
    "out-name-too-long": Bad("File name too long", BASE, out="{tmp}/" + "n" * 300),
    "junit-unwritable": Bad("--junit", BASE, args=["--junit", "/proc/iot-report.xml"]),
    "allow-unknown-class": Bad("--allow", BASE, args=["--allow", "intrusive,everything"]),
    "allow-network-default-route": Bad("0.0.0.0/0", BASE, args=["--allow-network", "0.0.0.0/0"]),
    "allow-network-not-a-network": Bad("--allow-network", BASE, args=["--allow-network", "lab-net"]),
    "suite-missing": Bad("--suite", BASE, args=["--suite", "{tmp}/no-suite"]),
    "state-unknown": Bad("--state", BASE, args=["--state", "after-midnight"]),
    "signing-key-missing": Bad("cannot read signing key", BASE, args=["--signing-key", "{tmp}/no-key.pem"]),
    "signing-key-not-a-key": Bad("is not a usable PEM private key", BASE,
                                 args=["--signing-key", "{tmp}/file-not-folder"]),
    "scheme-option-unknown": Bad("unknown scheme(s) ['etsi-999']", BASE, args=["--scheme", "etsi-999"]),
}


def _attempt(name: str, tmp: Path) -> tuple[subprocess.CompletedProcess, Path]:
    bad = BAD[name]
    (tmp / "file-not-folder").write_text("just a file\n")
    (tmp / "full").mkdir()
    (tmp / "full" / "old-results.json").write_text("{}\n")
    spec = bad.profile(tmp) if callable(bad.profile) else bad.profile
    if isinstance(spec, str) and spec.startswith("/") and "\n" not in spec:
        profile = spec  # a path given as the profile
    else:
        profile = str(_file(tmp, "profile.yaml", (spec or "").encode()))
    out = Path((bad.out or "{tmp}/bundle").replace("{tmp}", str(tmp)))
    args = [a.replace("{tmp}", str(tmp)) for a in bad.args]
    env = {k: v for k, v in os.environ.items() if k != "IOT_BAD_INPUT_UNSET"}
    return harness("run", "--profile", profile, "--out", str(out), *args, timeout=120, env=env), out


@pytest.fixture(scope="module")
def attempts(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every bad input tried once, four CLI processes at a time (each is refused in about a second)."""
    with ThreadPoolExecutor(4) as pool:
        futures = {name: pool.submit(_attempt, name, tmp_path_factory.mktemp(name)) for name in BAD}
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_exits_2_naming_the_problem_without_a_traceback(attempts, name):
    r, out = attempts[name]
    said = r.stdout + r.stderr
    assert r.returncode == 2, (name, r.returncode, said[-2000:])
    assert "Traceback" not in said, said[-3000:]
    assert BAD[name].says in said, (name, BAD[name].says, said[-1500:])
    if BAD[name].out is None:
        assert not out.exists(), f"{name}: a refused run left {out} behind"
