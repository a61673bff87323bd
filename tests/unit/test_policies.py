"""TLS and SSH policies as data: every built-in policy loads, a bad one is named with its line,
and each verdict rule fires on a synthetic observation that breaks it (and only then)."""

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from harness.judgement.policies import (
    PolicyError,
    builtin_policies,
    load_ssh_policy,
    load_tls_policy,
)
from harness.judgement.ssh import evaluate as ssh_evaluate
from harness.judgement.ssh import golden_policy
from harness.judgement.tls import evaluate as tls_evaluate
from harness.observation.probes.sshkex import SshOffer
from harness.observation.probes.tls import CertificateFacts, TlsObservation

NOW = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
POLICIES = Path(__file__).resolve().parents[2] / "harness" / "data" / "policies"


def test_every_builtin_policy_loads_and_cites_sources():
    assert set(builtin_policies("tls")) == {"cryptrec-gl3001-3.0.1", "nist-sp800-52r2"}
    for name in builtin_policies("tls"):
        p = load_tls_policy(name)
        assert p.protocols.allowed == ["TLSv1.2", "TLSv1.3"]
        assert p.protocols.source and p.cipher_suites.source and p.certificate.source
    for name in builtin_policies("ssh"):
        p = load_ssh_policy(name)
        assert all(f.source for f in p.forbidden.values())


def test_unknown_policy_lists_the_builtin_ones():
    with pytest.raises(PolicyError, match=re.escape("built-in policies: cryptrec-gl3001-3.0.1, nist-sp800-52r2")):
        load_tls_policy("tls-from-1999")


def test_broken_policy_file_names_line_and_field(tmp_path):
    data = yaml.safe_load((POLICIES / "tls" / "nist-sp800-52r2.yaml").read_text())
    data["certificate"]["min_rsa_bits"] = "lots"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as e:
        load_tls_policy(str(path))
    assert "certificate.min_rsa_bits" in str(e.value) and "line" in str(e.value)


# ---------------------------------------------------------------- SSH
ROUTER_LIKE = SshOffer(
    banner="SSH-2.0-OpenSSH_9.2p1",
    kex=["curve25519-sha256", "diffie-hellman-group1-sha1", "kex-strict-s-v00@openssh.com", "made-up-kex"],
    host_key=["ssh-ed25519", "ssh-rsa"],
    cipher=["chacha20-poly1305@openssh.com", "3des-cbc"],
    mac=["hmac-sha2-256-etm@openssh.com", "hmac-md5"],
    compression=["none"],
)


def test_ssh_forbidden_algorithms_cite_reason_and_source():
    v = {x.rule: x for x in ssh_evaluate(ROUTER_LIKE, load_ssh_policy())}
    assert set(v) == {"ssh.kex.diffie-hellman-group1-sha1", "ssh.kex.made-up-kex", "ssh.host_key.ssh-rsa",
                      "ssh.cipher.3des-cbc", "ssh.mac.hmac-md5"}
    assert v["ssh.kex.diffie-hellman-group1-sha1"].source == "RFC 9142 §4 (MUST NOT)"
    assert "Logjam" in v["ssh.kex.diffie-hellman-group1-sha1"].detail
    assert "allow-list" in v["ssh.kex.made-up-kex"].detail  # unknown: judged by the allow-list, said so


def test_ssh_modern_offer_passes():
    good = dataclasses.replace(ROUTER_LIKE, kex=["curve25519-sha256", "ext-info-s"], host_key=["ssh-ed25519"],
                               cipher=["aes256-gcm@openssh.com"], mac=[])
    assert ssh_evaluate(good, load_ssh_policy()) == []


def test_golden_policy_accepts_its_device_and_catches_drift(tmp_path):
    path = tmp_path / "golden.yaml"
    path.write_text(golden_policy(ROUTER_LIKE, "golden-router", "router 198.18.0.12:22"))
    golden = load_ssh_policy(str(path))
    assert golden.mode == "exact" and ssh_evaluate(ROUTER_LIKE, golden) == []
    drifted = dataclasses.replace(ROUTER_LIKE, cipher=["chacha20-poly1305@openssh.com", "aes128-cbc"])
    rules = {v.rule for v in ssh_evaluate(drifted, golden)}
    assert rules == {"ssh.cipher.aes128-cbc", "ssh.cipher.3des-cbc.missing"}


# ---------------------------------------------------------------- TLS
def _cert(**kw) -> CertificateFacts:
    base = dict(subject="CN=hub.lab", issuer="CN=IoT Lab Root CA", key_type="EC secp256r1", key_bits=256,
                signature_hash="sha256", not_before="2026-11-01T00:00:00+00:00",
                not_after="2026-12-31T00:00:00+00:00", san_dns=["hub.lab"], san_ip=["198.18.0.11"],
                self_signed=False, sha256="00")
    return CertificateFacts(**{**base, **kw})


def _obs(**kw) -> TlsObservation:
    base = dict(address="198.18.0.11", port=443,
                protocols={"SSLv2": [], "SSLv3": [], "TLSv1.0": [], "TLSv1.1": [],
                           "TLSv1.2": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                           "TLSv1.3": ["TLS_AES_128_GCM_SHA256"]},
                groups=["X25519", "secp256r1"], chain=[_cert()], trust_anchor="trust anchor ca.crt",
                trusted=True, validation_error=None,
                vulnerabilities={"heartbleed": False, "ccs_injection": False, "robot": False,
                                 "insecure_renegotiation": False, "client_renegotiation_dos": False,
                                 "compression": False, "fallback_scsv": False})
    return TlsObservation(**{**base, **kw})


@pytest.mark.parametrize("policy", ["cryptrec-gl3001-3.0.1", "nist-sp800-52r2"])
def test_tls_sound_server_passes_both_policies(policy):
    assert tls_evaluate(_obs(), load_tls_policy(policy), [], now=NOW) == []


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"protocols": {"TLSv1.0": ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], "TLSv1.2": []}}, "tls.protocol.TLSv1.0"),
        ({"protocols": {"TLSv1.2": ["TLS_RSA_WITH_AES_128_GCM_SHA256"]}}, "tls.key_exchange.TLSv1.2"),
        ({"protocols": {"TLSv1.2": ["TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256"]}}, "tls.cipher_suites.TLSv1.2"),
        ({"chain": [_cert(key_type="RSA", key_bits=1024)]}, "tls.certificate.key_size"),
        ({"chain": [_cert(signature_hash="sha1")]}, "tls.certificate.signature"),
        ({"chain": [_cert(not_after="2026-10-01T00:00:00+00:00")]}, "tls.certificate.expired"),
        ({"chain": [_cert(not_before="2027-01-01T00:00:00+00:00")]}, "tls.certificate.not_yet_valid"),
        ({"chain": [_cert(san_ip=[], san_dns=["other.example"])]}, "tls.certificate.name"),
        ({"trusted": False, "validation_error": "self-signed"}, "tls.certificate.untrusted"),
        ({"groups": ["secp192r1"]}, "tls.groups"),
        ({"vulnerabilities": {"heartbleed": True}}, "tls.vulnerability.heartbleed"),
    ],
)
def test_tls_each_rule_fires_alone_and_cites_its_source(change, rule):
    obs = _obs(**change)
    violations = tls_evaluate(obs, load_tls_policy("nist-sp800-52r2"), [], now=NOW)
    assert [v.rule for v in violations] == [rule]
    assert violations[0].source.startswith(("NIST SP 800-52r2", "RFC", "CVE"))


def test_tls_name_may_come_from_declared_server_names():
    obs = _obs(chain=[_cert(san_ip=[], san_dns=["hub.lab"])])
    assert tls_evaluate(obs, load_tls_policy(), ["hub.lab"], now=NOW) == []


def test_tls_expired_certificate_is_not_reported_twice():
    obs = _obs(chain=[_cert(not_after="2026-10-01T00:00:00+00:00")], trusted=False,
               validation_error="cert is not valid at validation time")
    assert [v.rule for v in tls_evaluate(obs, load_tls_policy(), [], now=NOW)] == ["tls.certificate.expired"]


@pytest.mark.parametrize("policy", ["cryptrec-gl3001-3.0.1", "nist-sp800-52r2"])
def test_static_rsa_on_a_legacy_version_is_named_besides_the_version(policy):
    """Class 10 of the 'devices we did not build' issue: TLS_RSA_* on a TLS 1.0-only port was
    reported only as 'TLS 1.0 enabled'; the missing forward secrecy is its own finding, citing
    both the policy's document and RFC 9325."""
    obs = _obs(protocols={"TLSv1.0": ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"],
                          "TLSv1.1": ["TLS_RSA_WITH_AES_256_CBC_SHA"], "TLSv1.2": [], "TLSv1.3": []})
    v = {x.rule: x for x in tls_evaluate(obs, load_tls_policy(policy), [], now=NOW)}
    assert {"tls.protocol.TLSv1.0", "tls.protocol.TLSv1.1", "tls.key_exchange.TLSv1.0",
            "tls.key_exchange.TLSv1.1"} <= set(v)
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in v["tls.key_exchange.TLSv1.0"].detail
    assert "ECDHE" not in v["tls.key_exchange.TLSv1.0"].detail
    assert "RFC 9325" in v["tls.key_exchange.TLSv1.0"].source


def test_ephemeral_suites_are_not_static():
    from harness.judgement.tls import static_key_exchange

    assert not any(static_key_exchange(s) for s in ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                                                    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "TLS_AES_128_GCM_SHA256"))
    assert all(static_key_exchange(s) for s in ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
                                                "TLS_DH_RSA_WITH_AES_128_CBC_SHA", "TLS_PSK_WITH_AES_128_CBC_SHA"))
