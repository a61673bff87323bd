import json
from pathlib import Path

import pytest

from harness.declaration.profile import ProfileError, load_profile
from harness.run.cli import schema_text
from tests.conftest import LAB_PROFILES, ROOT, harness

MINIMAL = """
identity: {vendor: V, model: M, firmware_version: "1.0"}
units: [{name: u1, address: 198.18.0.50, secrets: {pw: {value: "Sup3r-Secret-Value"}}}]
services: [{name: ssh, port: 22, protocol: ssh, purpose: maintenance, authentication: password}]
credentials: {kind: unique-per-unit}
schemes: [jc-star-1]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", [*sorted(LAB_PROFILES.glob("*.yaml")), ROOT / "device_profiles" / "template.yaml"])
def test_shipped_profiles_are_valid(path):
    """As declarations: the lab's name files that exist only while the lab is up, the template
    placeholder paths."""
    r = harness("profile", "validate", "--schema-only", str(path))
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout


def test_validate_fails_for_what_a_run_would_lack(tmp_path):
    text = MINIMAL.replace('{value: "Sup3r-Secret-Value"}', "{env: IOT_VALIDATE_UNSET}").replace(
        "schemes:", "communication: {trust_anchor: /nonexistent/ca.pem, ssh_policy: /nonexistent/p.yaml}\nschemes:")
    r = harness("profile", "validate", str(write(tmp_path, text)))
    assert r.returncode == 1
    for says in ("units[0].secrets.pw", "IOT_VALIDATE_UNSET", "communication.trust_anchor: /nonexistent/ca.pem",
                 "communication.ssh_policy", "--schema-only"):
        assert says in r.stderr, (says, r.stderr)
    assert harness("profile", "validate", "--schema-only", str(tmp_path / "p.yaml")).returncode == 0


def test_schema_file_is_current():
    assert (ROOT / "device_profiles" / "schema.json").read_text() == schema_text(), (
        "device_profiles/schema.json is stale: run `iot-harness profile schema --write device_profiles/schema.json`"
    )


def test_typo_in_field_name_is_named_with_suggestion(tmp_path):
    p = write(tmp_path, MINIMAL.replace("firmware_version", "firmwre_version"))
    r = harness("profile", "validate", str(p))
    assert r.returncode == 1
    assert "identity.firmwre_version: unknown field; did you mean 'firmware_version'?" in r.stderr
    assert "identity.firmware_version: required field is missing" in r.stderr


def test_bad_port_is_named(tmp_path):
    p = write(tmp_path, MINIMAL.replace("port: 22", "port: 70000"))
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert ("services[0].port", "Input should be less than or equal to 65535; expected: port number, 1-65535 "
            "(a number, not true/false)") in (
        e.value.problems
    )


def test_host_name_instead_of_address_is_refused(tmp_path):
    p = write(tmp_path, MINIMAL.replace("198.18.0.50", "camera.local"))
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert e.value.problems[0][0] == "units[0].address"
    assert "never resolves names" in e.value.problems[0][1]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "(top level)"),
        ("identity: [", "line"),
        (MINIMAL + "not_applicable: [{requirement: S1.1-14, justification: no user data at all}]\n"
         "waivers: [{requirement: S1.1-14, reason: some long reason, expires: 2030-01-01, approved_by: QA}]\n",
         "(top level)"),
        (MINIMAL.replace("services: [", "services: [{name: ssh, port: 23, protocol: telnet, purpose: debug shell, "
                         "authentication: password}, "), "(top level)"),
    ],
    ids=["empty", "bad-yaml", "na-and-waiver", "duplicate-service-name"],
)
def test_empty_or_contradictory_profiles_are_refused(tmp_path, text, where):
    with pytest.raises(ProfileError) as e:
        load_profile(write(tmp_path, text))
    assert e.value.problems[0][0].startswith(where)


def test_unknown_requirement_in_declaration_is_refused(tmp_path):
    p = write(tmp_path, MINIMAL + "not_applicable: [{requirement: S1.1-99, justification: does not exist at all}]\n")
    r = harness("profile", "validate", str(p))
    assert r.returncode == 1
    assert "unknown requirement 'S1.1-99'" in r.stderr


def test_secrets_never_printed(tmp_path):
    prof = load_profile(write(tmp_path, MINIMAL))
    assert "Sup3r-Secret-Value" not in repr(prof)
    assert "Sup3r-Secret-Value" not in json.dumps(prof.redacted())
    assert "Sup3r-Secret-Value" not in prof.model_dump_json()
    assert prof.secret_values() == ["Sup3r-Secret-Value"]


def test_schema_and_template_cover_the_credential_fields():
    schema = json.loads((ROOT / "device_profiles" / "schema.json").read_text())
    template = (ROOT / "device_profiles" / "template.yaml").read_text()
    service = schema["$defs"]["Service"]["properties"]
    for field in ("account", "protected_paths", "http_login"):
        assert field in service and f"{field}:" in template
    assert "credential_change" in schema["properties"] and "credential_change:" in template
    for field in ("brute_force_max_attempts", "brute_force_max_seconds", "lockout_recovery_wait_s"):
        assert field in schema["$defs"]["Limits"]["properties"] and field in template


def test_account_secret_must_exist_on_every_unit(tmp_path):
    text = MINIMAL.replace("authentication: password}", "authentication: password, "
                           "account: {username: admin, secret: installer_pw}}")
    with pytest.raises(ProfileError) as e:
        load_profile(write(tmp_path, text))
    assert "test account secret 'installer_pw'" in e.value.problems[0][1]


@pytest.mark.parametrize(("mutate", "where", "says"), [
    (lambda t: t.replace("port: 22", "port: true"), "services[0].port", "valid integer"),
    (lambda t: t + "schemes: [nist-ir-8259a]\n", "line", "is given twice"),
    (lambda t: "[" * 20000 + "]" * 20000, "(file)", "nested too deeply"),
], ids=["boolean-port", "duplicate-key", "deep-nesting"])
def test_hostile_profile_text_is_refused_naming_the_place(tmp_path, mutate, where, says):
    p = write(tmp_path, mutate(MINIMAL))
    with pytest.raises(ProfileError) as e:
        load_profile(p)
    assert any(loc.startswith(where) and says in msg for loc, msg in e.value.problems), e.value.problems


def test_special_large_and_non_utf8_files_are_refused(tmp_path):
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, says in ((fifo, "not a regular file"), (tmp_path, "not a regular file")):
        with pytest.raises(ProfileError, match=says):
            load_profile(path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (2 << 20))
    with pytest.raises(ProfileError, match="more than the"):
        load_profile(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(MINIMAL.replace("V", "Caf\xe9").encode("latin-1"))
    with pytest.raises(ProfileError, match="not UTF-8"):
        load_profile(latin)


def test_the_duplicate_check_is_linear():
    from harness.declaration.datafile import duplicates

    ids = [str(i) for i in range(200_000)] + ["7", "42", "42"]
    assert duplicates(ids) == ["42", "7"]


def test_a_private_key_given_as_a_password_is_refused(tmp_path, monkeypatch):
    from harness.declaration.profile import Secret

    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(ValueError, match="private key, not a password"):
        Secret(value=pem)
    (tmp_path / "k").write_text(pem)
    monkeypatch.setenv("IOT_TEST_KEY", pem)
    for secret in (Secret(file=tmp_path / "k"), Secret(env="IOT_TEST_KEY")):
        with pytest.raises(LookupError, match="private key, not a password"):
            secret.reveal()
    assert Secret(value="hunter2-not-a-key").reveal() == "hunter2-not-a-key"


def test_vendor_and_firmware_may_be_declared_unknown():
    from harness.declaration.profile import Identity

    ident = Identity(vendor="unknown", model="X1", firmware_version="unknown")
    assert ident.firmware_known is None
    assert Identity(vendor="V", model="X1", firmware_version="1.2.3").firmware_known == "1.2.3"


@pytest.mark.parametrize(("update", "message"), [
    ("{method: vendor updater, version_command: cat /etc/os-release}", "go together"),
    ("{method: vendor updater, version_command: cat /etc/os-release, version_service: web}",
     "must name a declared ssh service"),
    ("{method: vendor updater, version_command: cat /etc/os-release, version_service: ssh}", "with an account"),
    ("{method: vendor updater, image_format: signed-manifest}", "update.manifest describes a signed-manifest image"),
    ("{method: vendor updater, image_format: raw-signed}", "update.raw describes a raw-signed image"),
    ("{method: vendor updater, raw: {}}", "update.raw describes a raw-signed image"),
    ("{method: vendor updater, image_format: raw-signed, raw: {}, upload_encoding: raw}", "must be multipart"),
    ("{method: vendor updater, image_format: raw-signed, raw: {version_pattern: 'VERSION=.*'}}", "needs a group"),
    ("{method: vendor updater, image_format: raw-signed, raw: {version_pattern: 'V=(['}}", "not a regular expression"),
])
def test_update_readers_and_formats_are_checked_at_load(tmp_path, update, message):
    text = MINIMAL.replace("schemes:", f"update: {update}\nschemes:")
    text = text.replace("services: [", "services: [{name: web, port: 80, protocol: http, purpose: admin, "
                        "authentication: password}, ")
    with pytest.raises(ProfileError) as e:
        load_profile(write(tmp_path, text))
    assert message in str(e.value)


def test_a_version_read_over_ssh_validates():
    from harness.observation.scope import Scope, ScopeGuard
    from harness.observation.update.device import DeviceState, UpdateEndpoint

    ep = UpdateEndpoint(ScopeGuard(Scope.build(["127.0.0.84"])), "127.0.0.84", 22,
                        read_text=lambda: 'NAME="X"\nVERSION_ID="3.1.5"\n')
    assert ep.read_state() == DeviceState('NAME="X"\nVERSION_ID="3.1.5"\n', "3.1.5")
    js = UpdateEndpoint(ScopeGuard(Scope.build(["127.0.0.84"])), "127.0.0.84", 22, version_json_path="fw.version",
                        read_text=lambda: '{"fw": {"version": "1.4.1"}}')
    assert js.read_state().version == "1.4.1"


@pytest.mark.parametrize(("service", "message"), [
    ("{name: ssh, port: 22, protocol: ssh, purpose: console, authentication: public-key, "
     "account: {username: maint}}", "give exactly one"),
    ("{name: ssh, port: 22, protocol: ssh, purpose: console, authentication: public-key, "
     "account: {username: maint, secret: pw, key_file: /k}}", "give exactly one"),
    ("{name: web, port: 80, protocol: http, purpose: admin, authentication: password, "
     "account: {username: admin, key_file: /k}}", "logs in over SSH only"),
])
def test_a_key_account_is_one_credential_and_ssh_only(tmp_path, service, message):
    text = MINIMAL.replace("services: [", f"services: [{service}, ")
    with pytest.raises(ProfileError) as e:
        load_profile(write(tmp_path, text))
    assert message in str(e.value)


def test_a_key_account_validates_and_expands_the_unit_name(tmp_path):
    text = MINIMAL.replace("services: [", "services: [{name: console, port: 2200, protocol: ssh, purpose: console, "
                           "authentication: public-key, account: {username: maint, key_file: '/keys/{unit}.key'}}, ")
    profile = load_profile(write(tmp_path, text))
    account = next(s for s in profile.services if s.name == "console").account
    assert account.uses_key and str(account.key_path("unit1")) == "/keys/unit1.key"
    change = text.replace("schemes:", "credential_change: {service: console, command: passwd, input: x}\nschemes:")
    with pytest.raises(ProfileError, match="must be a password account"):
        load_profile(write(tmp_path, change))


@pytest.mark.parametrize("reset, said", [
    ("{service: nowhere, command: reset, canary_set: 'set {value}', canary_get: get}", "is not a declared service"),
    ("{service: ssh, command: reset, canary_set: 'set name', canary_get: get}", "must contain {value}"),
])
def test_a_factory_reset_declaration_is_checked(tmp_path, reset, said):
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + f"factory_reset: {reset}\n")
    with pytest.raises(ProfileError) as e:
        load_profile(path)
    assert said in str(e.value)
