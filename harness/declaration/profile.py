"""The device declaration: what the manufacturer claims, and the inputs the tests need.

This plays the role of PICS/PIXIT in the Matter test harness and ICS/IXIT in ETSI TS 103 701:
claims are checked against observation, never taken on trust. Every model forbids unknown
fields, because a typo in a declaration would otherwise silently switch a check off.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from harness.observation.protocols import PROTOCOLS

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Transport(StrEnum):
    TCP = "tcp"
    UDP = "udp"


# Application protocols come from the one protocol table; a new protocol is one entry there.
Protocol = StrEnum("Protocol", [(name.upper(), name) for name in PROTOCOLS])  # type: ignore[misc]


class Authentication(StrEnum):
    NONE = "none"
    PASSWORD = "password"
    PUBLIC_KEY = "public-key"
    CERTIFICATE = "certificate"
    TOKEN = "token"
    PRE_SHARED_KEY = "pre-shared-key"  # DTLS/TLS-PSK: a key the client holds, per unit or shared


class TlsExpectation(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


class Secret(_Strict):
    """A value a test needs but no report may show: given inline, by environment variable or
    by file, so a lab can keep real passwords out of the profile it archives."""

    value: SecretStr | None = Field(default=None, description="the secret itself (discouraged in shared files)")
    env: str | None = Field(default=None, description="name of an environment variable holding the secret")
    file: Path | None = Field(default=None, description="path of a file whose content is the secret")

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        given = [k for k in ("value", "env", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, env or file")
        if self.value is not None and _is_private_key(self.value.get_secret_value()):
            raise ValueError(PRIVATE_KEY_GIVEN)
        return self

    def reveal(self) -> str:
        """The secret in clear, for the one probe that must send it."""
        if self.value is not None:
            text = self.value.get_secret_value()
        elif self.env is not None:
            if self.env not in os.environ:
                raise LookupError(f"environment variable {self.env} is not set")
            text = os.environ[self.env]
        else:
            assert self.file is not None
            text = _read_secret_file(self.file)
        if _is_private_key(text):
            raise LookupError(PRIVATE_KEY_GIVEN)
        return text


PRIVATE_KEY_GIVEN = ("this secret is a private key, not a password: it would be sent as a password (and end up "
                     "in a device's log); accounts here log in with passwords")


def _is_private_key(text: str) -> bool:
    return "-----BEGIN" in text and "PRIVATE KEY-----" in text


MAX_SECRET_BYTES = 64 << 10


def _read_secret_file(path: Path) -> str:
    """A secret file is small, regular and UTF-8: /dev/zero or a FIFO must not hang a run."""
    import stat

    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise LookupError(f"secret file {path} is not a regular file")
        with open(path, "rb") as f:
            raw = f.read(MAX_SECRET_BYTES + 1)
    except OSError as e:
        raise LookupError(f"secret file {path}: {e.strerror}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise LookupError(f"secret file {path} is larger than {MAX_SECRET_BYTES} bytes; is it the right file?")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise LookupError(f"secret file {path} is not UTF-8 text") from None


UNKNOWN = "unknown"


class Identity(_Strict):
    """Who made the device and what it runs. A profile written from a vendor's declaration may not
    know the vendor or the firmware version: say `unknown` explicitly rather than inventing one;
    checks that compare against it then rely on what the device shows by itself."""

    vendor: str = Field(min_length=1, description="manufacturer's name as on the label, or 'unknown'")
    model: str = Field(min_length=1, description="model designation as printed on the device")
    firmware_version: str = Field(min_length=1, description="firmware version under test, or 'unknown'")
    hardware_version: str | None = None

    @property
    def firmware_known(self) -> str | None:
        """The declared firmware version, or None when the profile says it is unknown."""
        return None if self.firmware_version.strip().lower() == UNKNOWN else self.firmware_version


class Unit(_Strict):
    """One physical (or emulated) device of the model. Two or more units let the harness test
    that passwords and keys are not shared across the product class."""

    name: str = Field(pattern=SLUG, description="short unit name, lower case, e.g. unit1")
    address: str = Field(description="IP literal of the unit; names are never resolved (no DNS)")
    serial: str | None = None
    mac: str | None = None
    secrets: dict[str, Secret] = Field(default_factory=dict, description="per-unit secrets tests may use")

    @field_validator("address")
    @classmethod
    def _ip_literal(cls, v: str) -> str:
        try:
            return str(ipaddress.ip_address(v))
        except ValueError:
            raise ValueError(
                f"{v!r} is not an IP address; write the unit's IP literal (the harness never resolves names)"
            ) from None


class TestAccount(_Strict):
    """A valid login on a service, for tests that must log in (brute-force lockout, credential
    change, a version read over SSH). A password account names a per-unit secret; an SSH account
    may log in with a private key file instead (many consoles accept keys only), which is never
    sent anywhere and never recorded, and proves nothing about passwords."""

    username: str = Field(min_length=1)
    secret: str | None = Field(default=None, min_length=1, description="name of the unit secret holding the password")
    key_file: Path | None = Field(
        default=None, description="private key file (OpenSSH or PEM, unencrypted) of an SSH account; '{unit}' in the "
        "path is replaced by the unit's name, for per-unit keys")

    @model_validator(mode="after")
    def _one_credential(self) -> TestAccount:
        if (self.secret is None) == (self.key_file is None):
            raise ValueError("a test account logs in with a password (secret: the unit secret's name) or a private "
                             "key (key_file: its path): give exactly one")
        return self

    @property
    def uses_key(self) -> bool:
        return self.key_file is not None

    def key_path(self, unit: str) -> Path:
        assert self.key_file is not None
        return Path(str(self.key_file).replace("{unit}", unit))


class HttpLogin(_Strict):
    """How a web service logs users in. Basic and digest are read from the server's challenge;
    a form login must be described, with an explicit success criterion."""

    kind: Literal["basic", "digest", "form"] = Field(description="basic, digest or form")
    path: str = Field(default="/", pattern=r"^/", description="path the login is sent to (form: its action)")
    username_field: str = Field(default="username", description="form field for the user name")
    password_field: str = Field(default="password", description="form field for the password")
    extra_fields: dict[str, str] = Field(default_factory=dict, description="other form fields sent as they are")
    success_status: list[int] = Field(
        default_factory=lambda: [200, 302, 303], description="statuses meaning 'logged in'"
    )
    success_contains: str | None = Field(default=None, description="text only a logged-in response contains")
    failure_contains: str | None = Field(default=None, description="text a refused login response contains")

    @model_validator(mode="after")
    def _form_needs_criterion(self) -> HttpLogin:
        if self.kind == "form" and not (self.success_contains or self.failure_contains):
            raise ValueError("a form login needs success_contains or failure_contains, so a login can be judged")
        return self


class Service(_Strict):
    """A network service the manufacturer declares. Anything open that is not declared here
    is a finding (observation beats declaration)."""

    name: str = Field(pattern=SLUG, description="short service name, e.g. ssh, web-admin")
    port: int = Field(ge=1, le=65535, strict=True, description="port number, 1-65535 (a number, not true/false)")
    transport: Transport = Transport.TCP
    protocol: Protocol = Field(description="application protocol: " + ", ".join(p.value for p in Protocol))
    purpose: str = Field(min_length=3, description="why the service is needed, in a few words")
    authentication: Authentication = Field(description="how the service authenticates clients")
    tls: TlsExpectation = Field(default=TlsExpectation.NONE, description="required, optional or none")
    units: list[str] | None = Field(default=None, description="units that expose it; default all units")
    protected_paths: list[str] = Field(
        default_factory=list, description="HTTP paths that must refuse unauthenticated requests (admin pages, API)"
    )
    http_login: HttpLogin | None = Field(default=None, description="how the web service logs users in")
    api_paths: list[str] = Field(
        default_factory=list, description="the device's own HTTP API paths; tried without credentials, state-changing "
        "methods under --allow intrusive")
    public: bool = Field(default=False, description="serves only public content (documents, redirects): nothing "
                         "behind it may need authentication, and the harness checks that nothing does")
    account: TestAccount | None = Field(default=None, description="a valid login, for lockout and change tests")
    states: list[str] | None = Field(
        default=None, description="device states in which the service is reachable; default every declared state"
    )


class CredentialKind(StrEnum):
    UNIQUE_PER_UNIT = "unique-per-unit"
    USER_SET_AT_SETUP = "user-set-at-setup"
    SHARED_DEFAULT = "shared-default"
    NO_PASSWORDS = "no-passwords"


class CredentialScheme(_Strict):
    kind: CredentialKind = Field(description="how the password in force at installation is chosen")
    description: str = Field(default="", description="how it is generated or set, for the assessor")
    usernames: list[str] = Field(default_factory=list, description="account names the device uses")


class CredentialChange(_Strict):
    """The declared way a user changes a password, which the intrusive change test follows and
    then reverses. `input` is sent to the command's standard input, with {old} and {new} filled."""

    service: str = Field(description="name of the declared service the change goes through")
    method: Literal["ssh-command"] = "ssh-command"
    command: str = Field(default="passwd", min_length=1)
    input: str = Field(default="{old}\n{new}\n{new}\n", description="standard input, with {old} and {new}")


class FactoryReset(_Strict):
    """The declared way a user puts the product back to factory state (class `intrusive`: it erases
    the unit). The check plants a user setting (and, with a credential_change, a changed password),
    resets, and proves both are gone and the unit is back in a secure default."""

    service: str = Field(description="name of the declared ssh service the reset and the setting go through")
    method: Literal["ssh-command"] = "ssh-command"
    command: str = Field(min_length=1, description="the reset, run as the service's account")
    settle_s: float = Field(default=30.0, gt=0, le=600, description="how long a unit may take to come back")
    canary_set: str = Field(min_length=1, description="stores a user setting; {value} is filled with a fresh one")
    canary_get: str = Field(min_length=1, description="prints that setting")

    @field_validator("canary_set")
    @classmethod
    def _has_value(cls, v: str) -> str:
        if "{value}" not in v:
            raise ValueError("canary_set must contain {value}, where the harness puts the setting it plants")
        return v


DISCLOSURE_KINDS = ("serial-number", "mac-address", "device-uuid", "firmware-version", "os-version",
                    "internal-path")


class DiscoveryDeclaration(_Strict):
    """What the unit may reveal to anyone on the network without a password (mDNS, SSDP/UPnP,
    SNMP). Anything else security-relevant that it advertises is a finding (ETSI 5.6-2)."""

    may_reveal: list[Literal["serial-number", "mac-address", "device-uuid", "firmware-version", "os-version",
                             "internal-path"]] = (
        Field(default_factory=list, description="kinds of detail the product needs to advertise: " + ", ".join(
            DISCLOSURE_KINDS))
    )
    justification: str = Field(default="", description="why the product needs to advertise them")

    @model_validator(mode="after")
    def _justified(self) -> DiscoveryDeclaration:
        if self.may_reveal and len(self.justification) < 10:
            raise ValueError("may_reveal needs a justification of at least a sentence, for the assessor")
        return self


class CommunicationPolicies(_Strict):
    """Which versioned policies TLS and SSH are judged by, and whom the TLS certificates must chain to."""

    tls_policy: str = Field(
        default="cryptrec-gl3001-3.0.1",
        description="built-in TLS policy (cryptrec-gl3001-3.0.1, nist-sp800-52r2) or the path of a policy file",
    )
    ssh_policy: str = Field(
        default="iot-label-ssh-2026.1",
        description="built-in SSH policy (iot-label-ssh-2026.1) or the path of a policy file (e.g. a golden one)",
    )
    trust_anchor: Path | None = Field(
        default=None, description="CA certificate (PEM) the device's TLS certificates must chain to; "
        "default: the Mozilla root store"
    )
    tls_server_names: list[str] = Field(
        default_factory=list, description="DNS names clients use for the unit; otherwise the IP must be in the SAN"
    )


class SignerFiles(_Strict):
    certificate: Path = Field(description="PEM certificate")
    key: Path = Field(description="PEM private key (lab or test key; never written to a bundle)")


class PullChannel(_Strict):
    """Where the device fetches updates from, when it pulls: the harness stands in for that server
    (the device must be configured to use the harness's address) to test the channel itself."""

    port: int = Field(ge=1, le=65535, strict=True,
                      description="port of the update server the device is configured with")
    path: str = Field(pattern=r"^/", description="path the device requests, e.g. /fw/update.swu")
    tls: bool = Field(default=True, description="the device is meant to reach the server over TLS only")
    poll_s: float = Field(default=10.0, gt=0, le=3600, description="how often the device asks for updates")


class ManifestLayout(_Strict):
    """Where the parts of a vendor's signed-manifest image are: an archive holding a JSON manifest
    (version, and per payload its name and SHA-256), a detached CMS signature over the manifest,
    and the payloads. Keys are dotted paths into the manifest."""

    archive: Literal["tar", "cpio"] = Field(description="archive kind of the image")
    descriptor: str = Field(min_length=1, description="entry name of the JSON manifest, e.g. manifest.json")
    signature: str = Field(min_length=1, description="entry name of the detached CMS signature over the manifest")
    payloads_key: str = Field(default="files", description="manifest key of the list of payload records")
    name_key: str = Field(default="name", description="key of a payload's entry name in its record")
    hash_key: str = Field(default="sha256", description="key of a payload's SHA-256 (hex) in its record")
    version_key: str = Field(default="version", description="manifest key of the image's version")


class RawSignedLayout(_Strict):
    """A raw firmware image (opaque bytes) with a detached signature beside it: the commonest
    shape of a small updater. The signature is a detached CMS (DER or PEM) over the whole image,
    kept next to each declared image as `<image><signature_suffix>`, and uploaded in the same
    multipart form as its own field. The version is read from the image bytes by a regex."""

    signature: Literal["cms"] = Field(default="cms", description="kind of the detached signature: cms (a detached "
                                      "CMS/PKCS#7 SignedData over the image, chaining to update.trust_anchor)")
    signature_suffix: str = Field(default=".sig", min_length=1, description="the signature file of image X is "
                                  "X plus this suffix")
    signature_field: str = Field(default="signature", min_length=1,
                                 description="multipart form field the signature is uploaded in")
    version_pattern: str = Field(default=r'VERSION_ID="?([^"\s]+)', description="regex over the image bytes; "
                                 "group 1 is the image's version")

    @field_validator("version_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            groups = re.compile(v.encode()).groups
        except re.error as e:
            raise ValueError(f"version_pattern is not a regular expression: {e}") from None
        if groups < 1:
            raise ValueError("version_pattern needs a group: group 1 is the version, e.g. VERSION_ID=([^\\s]+)")
        return v


class UpdateMechanism(_Strict):
    """How the device takes software updates, for the update-integrity checks (S1.1-06/08).

    Images: `current_image` is the genuine image of the version the units run (used to verify
    offline and to put a unit back after a case), `newer_image` a genuine newer release (the
    malicious variants are derived from it, so their version is one the device would accept),
    `older_image` a genuine older release (the downgrade case)."""

    method: str = Field(min_length=2, description="e.g. 'swupdate http upload', 'vendor cloud pull'")
    image_format: Literal["swu", "rauc", "signed-manifest", "raw-signed"] | None = Field(
        default=None, description="image format: swu (SWUpdate), rauc (RAUC plain bundle), signed-manifest (a "
        "vendor's archive of a JSON manifest, its detached CMS signature and the payloads; describe it under "
        "update.manifest) or raw-signed (a raw image with a detached signature file; describe it under update.raw)"
    )
    manifest: ManifestLayout | None = Field(default=None, description="layout of a signed-manifest image")
    raw: RawSignedLayout | None = Field(default=None, description="signature and version of a raw-signed image")
    trust_anchor: Path | None = Field(default=None, description="CA certificate (PEM) the images must chain to")
    rollback_protection: bool | None = Field(default=None, description="does the manufacturer claim anti-rollback?")
    transport: Literal["http-upload"] = Field(default="http-upload", description="how images reach the device")
    service: str | None = Field(default=None, description="declared http/https service that takes the upload")
    upload_path: str = Field(default="/upload", pattern=r"^/")
    upload_encoding: Literal["multipart", "raw"] = Field(
        default="multipart", description="multipart form (one file part) or the image as the request body"
    )
    upload_method: Literal["POST", "PUT"] = Field(default="POST", description="HTTP method of the upload")
    upload_field: str = Field(default="file", min_length=1, description="form field of the image (multipart)")
    version_path: str = Field(default="/os-release", pattern=r"^/", description="HTTP path showing the running version")
    version_pattern: str = Field(default=r'VERSION_ID="?([^"\s]+)', description="regex; group 1 is the version")
    version_json_path: str | None = Field(
        default=None, description="dotted key of the version when version_path serves JSON (instead of the regex)"
    )
    version_command: str | None = Field(
        default=None, description="shell command whose output shows the running version, run over SSH on "
        "version_service with its account (instead of version_path); read with version_pattern or version_json_path"
    )
    version_service: str | None = Field(default=None, description="declared ssh service (with an account) the "
                                        "version_command runs on")
    status_stream: Literal["swupdate-websocket", "none"] = Field(
        default="none", description="where the device reports install results and reasons"
    )
    current_image: Path | None = None
    newer_image: Path | None = None
    older_image: Path | None = None
    tamper_payload: str | None = Field(
        default=None, description="payload the malicious variants alter (default: the first); pick the one the "
        "running version is read from, so an accepted image shows"
    )
    expired_signer: SignerFiles | None = Field(
        default=None, description="an expired signer certificate of the manufacturer's CA, with its key"
    )
    settle_s: float = Field(default=20.0, gt=0, le=600, description="how long an install (and reboot) may take")
    pull: PullChannel | None = Field(default=None, description="the device also (or only) pulls updates")


def _document_ref(value: str | None) -> str | None:
    """An http(s) URL, or the path of a file (relative to the profile's folder) holding the document."""
    if value is None:
        return None
    if "://" in value:
        if not value.startswith(("http://", "https://")):
            raise ValueError("give an http(s) URL, or the path of a file next to the profile")
        TypeAdapter(HttpUrl).validate_python(value)  # well-formed, or pydantic's own URL error
    elif not value.strip():
        raise ValueError("empty: give an http(s) URL or a file path")
    return value


DocumentRef = Annotated[str | None, AfterValidator(_document_ref)]


class Urls(_Strict):
    """Published documents: each an http(s) URL the harness fetches (within scope; host names are
    not resolved, so a vendor page is given by address or saved as a file) or a file next to the
    profile, judged the same way."""

    vulnerability_disclosure_policy: DocumentRef = Field(
        default=None, description="how to report a vulnerability: contact, first-response time, status updates")
    security_txt: DocumentRef = Field(default=None, description="the vendor's /.well-known/security.txt (RFC 9116); "
                                      "the units' own web services are asked for it as well")
    support_period: DocumentRef = Field(default=None, description="for how long security updates are provided")
    update_procedure: DocumentRef = Field(default=None, description="how users get updates applied")
    user_manual: DocumentRef = Field(default=None, description="the manual, as text or HTML")
    privacy: DocumentRef = Field(default=None, description="the privacy notice: what personal data is processed, "
                                 "why, and by whom")
    data_deletion: DocumentRef = Field(default=None, description="how users erase their data from the device and "
                                       "its services")
    sbom: DocumentRef = Field(default=None, description="the firmware's SBOM: CycloneDX (JSON or XML) or SPDX (JSON "
                              "or tag-value)")


class NotApplicableDeclaration(_Strict):
    requirement: str = Field(min_length=2, description="requirement ID, e.g. S1.1-14")
    justification: str = Field(min_length=10, description="why it does not apply to this product")


class Waiver(_Strict):
    requirement: str = Field(min_length=2, description="requirement ID the waiver covers")
    reason: str = Field(min_length=10)
    expires: date = Field(description="ISO date (YYYY-MM-DD) after which the waiver no longer counts")
    approved_by: str = Field(min_length=2)


class Limits(_Strict):
    """Caps that keep probes gentle on fragile devices (the per-device connection budget)."""

    max_connections_per_unit: int = Field(default=4, ge=1, le=64)
    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    port_scan_timeout_s: float = Field(default=120.0, gt=0, le=1800)
    max_login_attempts_per_service: int = Field(default=20, ge=1, le=200)
    max_default_attempts_per_account: int = Field(
        default=2, ge=1, le=200, description="default-credential pairs tried per account name on one service: "
        "below common lockout thresholds (pam_faillock locks at 3), so the default-password check never "
        "locks the account; pairs left untried are reported as an advisory"
    )
    brute_force_max_attempts: int | None = Field(
        default=None, ge=3, le=500, description="cap on the logins one brute-force case sends, all phases; by "
        "default what a full measurement needs under the S1.1-04 rule: the baseline, rounds of 1..N wrong "
        "passwords each followed by the right one, the recovery polls for lockout_recovery_wait_s, and the "
        "repeated round that tells an address block from a restart (87 with the shipped rule and a 90 s wait)"
    )
    brute_force_max_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="cap on one brute-force case's duration, the recovery wait "
        "included: the rounds against a service that delays each failure by 3 s take about 75 s, the wait "
        "for the lockout to lift lockout_recovery_wait_s, and an address block's repeated round as much again"
    )
    lockout_recovery_wait_s: float = Field(
        default=90.0, gt=0, le=3600, description="how long to wait for a lockout to lift"
    )
    case_budget_s: float = Field(
        default=900.0, ge=10, le=7200, description="wall-clock budget of one case (set-up and check; tear-down "
        "is not cut short): a case still running then ends INCONCLUSIVE, naming it"
    )
    run_budget_s: float = Field(
        default=21600.0, ge=10, le=172800, description="deadline of the whole run: cases left then are not "
        "started and the bundle is sealed incomplete"
    )

    @model_validator(mode="after")
    def _brute_fits_its_case(self) -> Limits:
        need = self.brute_force_max_seconds + self.lockout_recovery_wait_s + 10
        if self.case_budget_s < need:
            raise ValueError(f"case_budget_s ({self.case_budget_s:g}) is shorter than one brute-force measurement "
                             f"may take (brute_force_max_seconds + lockout_recovery_wait_s + 10 s = {need:g}); "
                             "raise it or lower those")
        if self.case_budget_s < self.port_scan_timeout_s + 10:
            raise ValueError(f"case_budget_s ({self.case_budget_s:g}) is shorter than a port scan may take "
                             f"(port_scan_timeout_s + 10 s = {self.port_scan_timeout_s + 10:g}); raise it or "
                             "lower port_scan_timeout_s")
        return self


class DeviceProfile(_Strict):
    profile_version: Literal[1] = Field(default=1, description="version of this declaration format")
    identity: Identity
    units: Annotated[list[Unit], Field(min_length=1, description="at least one unit under test")]
    services: list[Service] = Field(default_factory=list)
    credentials: CredentialScheme
    credential_change: CredentialChange | None = None
    factory_reset: FactoryReset | None = None
    update: UpdateMechanism | None = None
    urls: Urls = Field(default_factory=Urls)
    schemes: Annotated[
        list[str],
        Field(min_length=1, description="labelling schemes to evaluate, by the `scheme` of a requirement catalog "
              "(built in: jc-star-1, nist-ir-8259a, nist-ir-8259b; more from $IOT_HARNESS_CATALOGS)"),
    ]
    not_applicable: list[NotApplicableDeclaration] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    discovery: DiscoveryDeclaration = Field(default_factory=DiscoveryDeclaration)
    communication: CommunicationPolicies = Field(default_factory=CommunicationPolicies)
    states: list[str] = Field(
        default_factory=lambda: ["as-delivered"],
        min_length=1,
        description="device states the exposure checks may be run in (run --state); the first is the default",
    )

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, v: list[str]) -> list[str]:
        from harness.declaration.catalog import scheme_names

        known = scheme_names()
        unknown = [s for s in v if s not in known]
        if unknown:
            raise ValueError(f"unknown scheme(s) {unknown}; known: {', '.join(known)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> DeviceProfile:
        _unique("units", [u.name for u in self.units])
        _unique("unit addresses", [u.address for u in self.units])
        _unique("services", [s.name for s in self.services])
        _unique("service ports", [f"{s.transport}/{s.port}" for s in self.services])
        names = {u.name for u in self.units}
        for s in self.services:
            if s.name.startswith("undeclared-"):
                raise ValueError(f"service {s.name!r}: names starting with 'undeclared-' are the harness's own, for "
                                 "the ports it finds that the profile does not declare; choose another name")
            for u in s.units or []:
                if u not in names:
                    raise ValueError(f"service {s.name!r} names unknown unit {u!r}; known: {sorted(names)}")
            if s.tls is TlsExpectation.REQUIRED and s.protocol in (Protocol.TELNET, Protocol.HTTP, Protocol.MQTT):
                raise ValueError(
                    f"service {s.name!r} declares tls: required but protocol {s.protocol} is clear text; "
                    "use https/mqtts or set tls: none"
                )
        _unique("states", self.states)
        for s in self.services:
            for st in s.states or []:
                if st not in self.states:
                    raise ValueError(f"service {s.name!r} names unknown state {st!r}; declared states: {self.states}")
        for s in self.services:
            if s.account and s.account.uses_key and s.protocol is not Protocol.SSH:
                raise ValueError(f"service {s.name!r}: a key_file account logs in over SSH only; give this "
                                 f"{s.protocol} service a password account (secret)")
            if s.account and not s.account.uses_key:
                for u in self.units:
                    if (s.units is None or u.name in s.units) and s.account.secret not in u.secrets:
                        raise ValueError(
                            f"service {s.name!r} names test account secret {s.account.secret!r}, "
                            f"but unit {u.name!r} has no such secret; add it under units[].secrets"
                        )
            if (s.http_login or s.protected_paths or s.api_paths or s.public) and s.protocol not in (
                    Protocol.HTTP, Protocol.HTTPS):
                raise ValueError(f"service {s.name!r}: http_login, protected_paths, api_paths and public are for "
                                 "http/https services")
            if s.public and (s.protected_paths or s.account or s.http_login
                             or s.authentication is not Authentication.NONE):
                raise ValueError(f"service {s.name!r}: a public service has authentication none and no "
                                 "protected_paths, account or login; declare the protected part as its own service")
            for path in [*s.protected_paths, *s.api_paths]:
                if not path.startswith("/") or any(c.isspace() for c in path):
                    raise ValueError(f"service {s.name!r}: path {path!r} must start with / and contain no spaces")
        if self.update and self.update.service:
            svc = {s.name: s for s in self.services}.get(self.update.service)
            if svc is None or svc.protocol not in (Protocol.HTTP, Protocol.HTTPS):
                raise ValueError(
                    f"update.service {self.update.service!r} must name a declared http or https service"
                )
        if self.update and (self.update.version_command is None) != (self.update.version_service is None):
            raise ValueError("update.version_command and update.version_service go together: the command runs over "
                             "SSH on that service")
        if self.update and self.update.version_service:
            svc = {s.name: s for s in self.services}.get(self.update.version_service)
            if svc is None or svc.protocol is not Protocol.SSH or svc.account is None:
                raise ValueError(f"update.version_service {self.update.version_service!r} must name a declared ssh "
                                 "service with an account (services[].account) to run version_command with")
        if self.update and (self.update.image_format == "signed-manifest") != (self.update.manifest is not None):
            raise ValueError("update.manifest describes a signed-manifest image: give it exactly when "
                             "update.image_format is signed-manifest")
        if self.update and (self.update.image_format == "raw-signed") != (self.update.raw is not None):
            raise ValueError("update.raw describes a raw-signed image: give it exactly when update.image_format is "
                             "raw-signed")
        if self.update and self.update.raw and self.update.upload_encoding != "multipart":
            raise ValueError("a raw-signed image is uploaded with its signature beside it: update.upload_encoding "
                             "must be multipart (the image in upload_field, the signature in raw.signature_field)")
        if self.credential_change:
            names = {s.name: s for s in self.services}
            svc = names.get(self.credential_change.service)
            if svc is None:
                raise ValueError(
                    f"credential_change.service {self.credential_change.service!r} is not a declared service"
                )
            if svc.account is None or svc.protocol is not Protocol.SSH:
                raise ValueError(
                    f"credential_change goes through {svc.name!r}, which needs protocol ssh and an account"
                )
            if svc.account.uses_key:
                raise ValueError(f"credential_change changes a password: the account of {svc.name!r} must be a "
                                 "password account (secret), not a key_file")
        if self.factory_reset:
            svc = {s.name: s for s in self.services}.get(self.factory_reset.service)
            if svc is None:
                raise ValueError(f"factory_reset.service {self.factory_reset.service!r} is not a declared service")
            if svc.account is None or svc.protocol is not Protocol.SSH or svc.account.uses_key:
                raise ValueError(f"factory_reset goes through {svc.name!r}, which needs protocol ssh and a password "
                                 "account (the factory password is what the unit must accept again after the reset)")
        na = {d.requirement for d in self.not_applicable}
        _unique("not_applicable requirements", [d.requirement for d in self.not_applicable])
        both = na & {w.requirement for w in self.waivers}
        if both:
            raise ValueError(
                f"{sorted(both)} declared both not applicable and waived; a requirement that does not "
                "apply needs no waiver - keep one of the two"
            )
        return self

    def only_units(self, names: list[str]) -> DeviceProfile:
        """The declaration narrowed to some of its units (those a labgrid place holds): a service
        declared only for units left out goes with them; the rest is re-validated as a whole."""
        unknown = sorted(set(names) - {u.name for u in self.units})
        if unknown:
            raise ValueError(f"units {unknown} are not declared; declared: {[u.name for u in self.units]}")
        services = []
        for s in self.services:
            if s.units is None:
                services.append(s)
            elif kept := [u for u in s.units if u in names]:
                services.append(s.model_copy(update={"units": kept}))
        data = self.model_dump(mode="json", exclude_none=False)
        data["units"] = [u.model_dump(mode="json") for u in self.units if u.name in names]
        data["services"] = [s.model_dump(mode="json") for s in services]
        return DeviceProfile.model_validate(data)

    def services_for(self, unit: Unit, state: str | None = None) -> list[Service]:
        """Services the unit exposes; with `state`, only those declared reachable in that state."""
        return [
            s for s in self.services
            if (s.units is None or unit.name in s.units) and (state is None or s.states is None or state in s.states)
        ]

    def secret_items(self) -> list[tuple[str, str, str]]:
        """(unit, secret name, value) for every secret the profile can reveal."""
        out = []
        for unit in self.units:
            for name, secret in unit.secrets.items():
                try:
                    value = secret.reveal()
                except (LookupError, OSError):
                    continue
                if value:
                    out.append((unit.name, name, value))
        return out

    def secret_values(self) -> list[str]:
        return [v for _, _, v in self.secret_items()]

    def redacted(self) -> dict:
        """The declaration as recorded in a bundle: everything but secret values."""
        data = self.model_dump(mode="json", exclude_none=True)
        for unit in data["units"]:
            unit["secrets"] = {k: "«redacted»" for k in unit.get("secrets", {})}
        return data


def _unique(what: str, items: list[str]) -> None:
    from harness.declaration.datafile import duplicates

    dupes = duplicates(items)
    if dupes:
        more = f" and {len(dupes) - 10} more" if len(dupes) > 10 else ""
        raise ValueError(f"duplicate {what}: {', '.join(map(str, dupes[:10]))}{more}; each must appear once")


class ProfileError(Exception):
    """A declaration that cannot be used; `problems` are (field path, message) pairs."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"{path}: invalid device profile ({len(problems)} problem(s))"]
        lines += [f"  - {loc}: {msg}" for loc, msg in problems]
        super().__init__("\n".join(lines))


def load_profile(path: Path) -> DeviceProfile:
    """Read and validate a profile, turning every validation error into a field path and a hint."""
    from pydantic import ValidationError

    from harness.declaration.datafile import YamlInputError, read_yaml
    from harness.declaration.profile_errors import describe_validation_error

    try:
        data = read_yaml(path, MAX_PROFILE_BYTES)
    except YamlInputError as e:
        raise ProfileError(path, [(e.where, e.problem)]) from None
    if not isinstance(data, dict) or not data:
        raise ProfileError(
            path, [("(top level)", "empty or not a mapping; start from device_profiles/template.yaml")]
        )
    try:
        return DeviceProfile.model_validate(data)
    except ValidationError as e:
        raise ProfileError(path, describe_validation_error(e, DeviceProfile)) from None


MAX_PROFILE_BYTES = 1 << 20  # a declaration is a few KiB; a larger file is a mistake, not a device


def profile_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"
