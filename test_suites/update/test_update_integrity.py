"""Software updates: the device installs genuine updates and refuses everything else (JC-STAR
S1.1-06 and S1.1-08; NIST IR 8259A SU-1, SU-2, SU-4; ETSI EN 303 645 5.3-2, 5.3-7, 5.3-9, 5.3-10).

Malicious images are derived from the manufacturer's genuine newer image (so their version is
one the device would accept, and only the tampering can be the reason for a refusal) and sent
the way the device takes updates. The verdict rests on the device's own state read back
afterwards, never on the upload's HTTP status. After every case the unit is put back on a
genuine image; if that fails the case ends in ERROR, loudly.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.observation.update.derive import CASES, SignerMaterial, derive
from harness.observation.update.device import DeviceState, DeviceUnreachable, UpdateEndpoint
from harness.observation.update.image import (
    EXTENSIONS,
    ImageError,
    SignedImage,
    detached_part,
    image_format,
    load_image,
)
from harness.observation.update.swu import verify_image
from harness.record.verdict import advisory, fail, inconclusive, not_applicable, not_evaluated

FIX = ("Verify every image before installing it: a CMS/X.509 signature chaining to your own CA, "
       "every payload against its signed hash, the signer's validity dates, and the version against "
       "the running one.")


def _update(profile):
    """The declared update mechanism, when the harness can deliver images to it. Anything
    missing is "could not test" (NOT_EVALUATED, naming the input), never "does not apply": a
    device without a declared updater still has to show it is updatable and that it checks."""
    u = profile.update
    if u is None:
        not_evaluated("the profile declares no update mechanism; declare `update:` (how the device takes "
                      "images) so update integrity can be tested")
    if u.service is None:
        how = "pulls its updates (update.pull)" if u.pull else "declares no update service"
        not_evaluated(f"the device {how}; the harness delivers test images by upload to a declared "
                      "update.service only, so genuine, malicious and older images were not tried")
    return u


def _image(path, role: str, u) -> tuple[bytes, SignedImage]:
    """The declared image file's bytes as they are sent, and the image opened in its format (a
    raw image with the signature file beside it)."""
    try:
        image = load_image(path, u)
        return path.read_bytes(), image
    except OSError as e:
        inconclusive(f"cannot read the {role} image {path}: {e.strerror}")
    except ImageError as e:
        inconclusive(f"the {role} image {path} is not a usable {image_format(u)} image: {e}")


def _changed_or_settled(device: UpdateEndpoint, before: DeviceState, refused_by_stream: bool, settle_s: float):
    """The state after an upload: a device that said FAILURE only needs to settle; one that said
    nothing gets the full settle time to show a change (an install may take a reboot)."""
    if refused_by_stream:
        return device.settled_state(min(settle_s, 3.0))
    return _await_change(device, before, settle_s)


def _await_change(device: UpdateEndpoint, before: DeviceState, settle_s: float) -> DeviceState | None:
    deadline = time.monotonic() + settle_s
    state: DeviceState | None = before
    while time.monotonic() < deadline:
        state = device.settled_state(min(3.0, max(0.5, deadline - time.monotonic())))
        if state is not None and state != before:
            return state
        time.sleep(0.2)
    return state


@pytest.fixture
def device(unit, profile, guard, run_cache, evidence):
    """The unit's update endpoint. Afterwards the unit is put back on the genuine image it ran
    (or the genuine newer one, once installed), even when the case failed midway."""
    u = _update(profile)
    svc = next(s for s in profile.services if s.name == u.service)
    if svc.units is not None and unit.name not in svc.units:
        not_applicable(f"{unit.name} does not expose the update service {svc.name}")
    anchor = profile.communication.trust_anchor
    auth = None
    if svc.account:  # the declared account: an update endpoint should demand a login
        try:
            auth = (svc.account.username, unit.secrets[svc.account.secret].reveal())
        except (KeyError, LookupError, OSError) as e:
            inconclusive(f"{unit.name}: the update service's account secret cannot be read: {e}")
    ep = UpdateEndpoint(
        guard, unit.address, svc.port, scheme="https" if str(svc.protocol) == "https" else "http",
        upload_path=u.upload_path, upload_encoding=u.upload_encoding, upload_method=u.upload_method,
        upload_field=u.upload_field, signature_field=u.raw.signature_field if u.raw else None,
        version_path=u.version_path, version_pattern=u.version_pattern,
        version_json_path=u.version_json_path, status_stream=u.status_stream,
        timeout=profile.limits.connect_timeout_s, verify=str(anchor) if anchor else False, auth=auth,
        read_text=_version_over_ssh(u, profile, guard, unit),
    )
    key = f"update-baseline:{unit.name}"
    if key not in run_cache:
        try:
            run_cache[key] = ep.read_state()
        except DeviceUnreachable as e:
            inconclusive(f"{unit.name}: {e}")
    if _restore_image(u, run_cache[key]) is None:  # said before anything is sent, not after
        not_evaluated(f"{unit.name} runs {run_cache[key].version or 'an unreadable version'}, and no declared genuine "
                      "image (current_image, newer_image, older_image) has that version, so the unit could not be "
                      "put back after a test image: declare the genuine image it runs as update.current_image")
    yield ep
    _restore(ep, run_cache[key], u, unit, evidence)


def _version_over_ssh(u, profile, guard, unit):
    """The reader for update.version_command: log in to version_service with its account and run
    the command (bounded like every SSH exchange); None when the version is read over HTTP."""
    if u.version_command is None:
        return None
    from harness.observation.probes.ssh import load_private_key, run_command

    svc = next(s for s in profile.services if s.name == u.version_service)
    account, password, key = svc.account, None, None
    try:
        if account.uses_key:
            key = load_private_key(account.key_path(unit.name))
        else:
            password = unit.secrets[account.secret].reveal()
    except LookupError as e:
        inconclusive(f"{unit.name}: the account of {svc.name} that reads the running version cannot log in: {e}")
    timeout = max(profile.limits.connect_timeout_s, 10.0)

    def read() -> str:
        r = run_command(guard, unit.address, svc.port, account.username, password, u.version_command,
                        timeout=timeout, key=key)
        if r.exit_status != 0:
            how = "ended without an exit status" if r.exit_status is None else f"exited {r.exit_status}"
            raise DeviceUnreachable(f"{u.version_command!r} {how} on {svc.name}")
        return r.stdout

    return read


def _restore_image(u, baseline: DeviceState) -> tuple[Path, SignedImage] | None:
    """The declared genuine image whose version the unit ran at the start (its file and the image
    opened), or None."""
    for path in (u.current_image, u.newer_image, u.older_image):
        if path is None or baseline.version is None:
            continue
        try:
            image = load_image(path, u)
            if image.version == baseline.version:
                return path, image
        except (OSError, ImageError):
            continue
    return None


def _restore(ep: UpdateEndpoint, baseline: DeviceState, u, unit, evidence) -> None:
    try:
        now = ep.read_state()
    except DeviceUnreachable:
        now = None
    if now == baseline:
        return
    found = _restore_image(u, baseline)
    if found is None:
        raise RuntimeError(f"{unit.name} now reads {now.version if now else 'nothing'}; no declared genuine image "
                           f"has the baseline version {baseline.version} to put it back")
    image, opened = found
    outcome = ep.upload(image.read_bytes(), image.name, detached=detached_part(opened))
    after = _await_change(ep, now or baseline, u.settle_s)
    evidence.write_json("restore.json", {"unit": unit.name, "found": now.text if now else None,
                                         "restored_with": image.name, "upload": outcome.summary(),
                                         "reads_now": after.text if after else None, "ok": after == baseline})
    if after != baseline:
        raise RuntimeError(f"could not put {unit.name} back on genuine {baseline.version}: it reads "
                           f"{after.version if after else 'nothing'} after re-installing {image.name}")


@pytest.mark.requirements("S1.1-08", "SU-2", "5.3-2", "5.3-7", "5.3-9", "5.3-10", "8425-SU")
def test_genuine_images_verify_offline(profile, evidence):
    u = profile.update
    if u is None:
        not_evaluated("the profile declares no update mechanism; declare `update:` so it can be tested")
    if u.trust_anchor is None:
        inconclusive("declare update.trust_anchor (the CA certificate the device trusts) to verify images")
    images = {r: p for r, p in (("current", u.current_image), ("newer", u.newer_image), ("older", u.older_image)) if p}
    if not images:
        inconclusive("declare at least update.current_image (the genuine image of the running version)")
    results, refused = {}, []
    for role, path in images.items():
        _, image = _image(path, role, u)
        v = verify_image(image, u.trust_anchor)
        results[role] = {"file": str(path), "version": image.version, "ok": v.ok, "reason": v.reason,
                         "signer": v.signer, "payloads_checked": v.checked}
        if not v.ok:
            refused.append(f"{role} image {path.name} ({image.version}): {v.reason}")
    evidence.write_json("offline-verification.json", {"trust_anchor": str(u.trust_anchor), "images": results})
    if refused:
        fail("the manufacturer's own image(s) would be refused by a device trusting the declared anchor: "
             + "; ".join(refused) + ". Sign with a certificate that chains to the anchor the devices ship.")


@pytest.mark.requirements("S1.1-01", "LA-2", "SU-4", "5.5-5", "5.3-10", "8425-SU", "8425-IAC")
@pytest.mark.probe_class("intrusive")
def test_update_refused_without_credentials(unit, profile, device, evidence, observations, current_case):
    """Only an authorised party may update the device: the genuine newer image is sent with no
    credentials at all (first of the update cases, while the unit still runs the current image).
    Judged by the version read back (with the declared account), and by the answer's status."""
    import dataclasses

    u = _update(profile)
    if u.newer_image is None:
        not_evaluated("declare update.newer_image (a genuine image newer than the running version) to try an "
                      "update without credentials")
    data, image = _image(u.newer_image, "newer", u)
    before = device.read_state()
    if before.version == image.version:
        inconclusive(f"{unit.name} already runs {image.version}: an unauthenticated install would not show")
    anonymous = dataclasses.replace(device, auth=None)
    outcome = anonymous.upload(data, u.newer_image.name, detached=detached_part(image))
    after = _await_change(device, before, u.settle_s) if outcome.http_status not in (401, 403) else \
        device.settled_state(3.0)
    evidence.write_json("upload.json", {"image": u.newer_image.name, "credentials": "none", "before": before.text,
                                        "after": after.text if after else None, "upload": outcome.summary()})
    if after is None:
        inconclusive(f"{unit.name} did not answer with its running version after an upload without credentials "
                     f"(HTTP {outcome.http_status or outcome.http_error}): whether it installed cannot be told")
    if after != before:
        _note_unauthenticated_install(observations, unit, anonymous, current_case, f"the genuine image {image.version}")
        fail(f"{unit.name} installed {image.version} sent without any credentials (HTTP {outcome.http_status}): "
             "anyone on the network can replace its firmware. Require authentication on the update interface.")
    if outcome.http_status in (401, 403):
        return  # refused at the door, and the version read back is unchanged
    inconclusive(f"{unit.name} answered HTTP {outcome.http_status or outcome.http_error} to an upload without "
                 "credentials and still runs its version: whether the request was refused cannot be told")


@pytest.mark.requirements("S1.1-08", "SU-2", "SU-4", "5.3-2", "5.3-7", "5.3-9", "5.3-10", "8425-SU")
@pytest.mark.probe_class("intrusive")
@pytest.mark.parametrize("case", CASES)
def test_malicious_image_refused(case, unit, profile, device, evidence, run_cache, observations, current_case):
    u = _update(profile)
    source = u.newer_image or u.current_image
    if source is None:
        inconclusive("declare update.newer_image (or current_image) to derive the malicious images from")
    if "update-derived" not in run_cache:
        _, genuine = _image(source, "newer" if u.newer_image else "current", u)
        expired = None
        if u.expired_signer:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization

            expired = SignerMaterial(
                x509.load_pem_x509_certificate(u.expired_signer.certificate.read_bytes()),
                serialization.load_pem_private_key(u.expired_signer.key.read_bytes(), None))
        run_cache["update-derived"] = {d.case: d for d in derive(genuine, u.tamper_payload, expired)}
    image = run_cache["update-derived"].get(case)
    if image is None:
        not_evaluated(f"{case}: needs update.expired_signer (an expired signer certificate of your CA, with "
                       "its key) to build")
    ext = EXTENSIONS[image_format(u)]
    evidence.write_bytes(f"{case}{ext}", image.data)
    signature_file = f"{case}{ext}{u.raw.signature_suffix}" if u.raw else None
    if image.detached is not None:
        evidence.write_bytes(signature_file, image.detached)
    evidence.write_json("image.json", {"case": case, "sha256": image.sha256, "bytes": len(image.data),
                                       "how": image.how, "derived_from": source.name,
                                       "sent_beside": signature_file if image.detached is not None else None})
    before = device.read_state()
    outcome = device.upload(image.data, f"{case}{ext}", detached=image.detached, detached_name=signature_file)
    after = _changed_or_settled(device, before, outcome.device_result == "FAILURE", u.settle_s)
    evidence.write_json("upload.json", {"before": before.text, "after": after.text if after else None,
                                        "upload": outcome.summary()})
    if after is None:
        fail(f"{unit.name} stopped answering after the {case} image ({image.how}): its function did not stay "
             f"unchanged. {FIX}")
    if after != before:
        _note_unauthenticated_install(observations, unit, device, current_case, f"the {case} image")
        fail(f"{unit.name} installed the {case} image ({image.how}): the running version read back changed from "
             f"{before.version} to {after.version} ({_marker(after)}). {FIX}")
    if u.status_stream != "none" and outcome.device_result != "FAILURE":
        reason = outcome.stream_problem or f"status stream said {outcome.device_result or 'nothing final'}"
        evidence.write_json("note.json", {"note": f"state unchanged, but {reason}"})


def _note_unauthenticated_install(observations, unit, device, current_case, what: str) -> None:
    """An image installed through an endpoint the harness reached without any credentials is
    evidence for access control too (S1.1-01): recorded as a fact every check can read."""
    if device.auth is None:
        observations.note("installed-without-credentials", unit.name, current_case, what=what,
                          endpoint=f"{device.scheme}://{device.address}:{device.port}{device.upload_path}")


def _marker(state: DeviceState) -> str:
    """The line that tells this image apart: the last BUILD_ID (the one that counts), else the last line."""
    lines = state.text.strip().splitlines()
    build = [ln for ln in lines if ln.startswith("BUILD_ID")]
    return (build or lines or ["empty"])[-1][:80]


def _send_genuine(device, unit, path, role: str, u, evidence, expect_change: bool):
    """Send one of the manufacturer's genuine images and read back what the unit then runs.
    `expect_change`: wait the full settle time for the new version (an install may reboot)."""
    data, image = _image(path, role, u)
    before = device.read_state()
    if before.version == image.version:
        inconclusive(f"{unit.name} already runs {image.version}, the {role} image's version")
    outcome = device.upload(data, path.name, detached=detached_part(image))
    if expect_change:
        after = _await_change(device, before, u.settle_s)
    else:
        after = _changed_or_settled(device, before, outcome.device_result == "FAILURE", u.settle_s)
    evidence.write_json("upload.json", {"image": path.name, "version": image.version, "before": before.text,
                                        "after": after.text if after else None, "upload": outcome.summary(),
                                        "rollback_protection_claimed": u.rollback_protection})
    return image, before, outcome, after


@pytest.mark.requirements("S1.1-06", "SU-1", "5.3-1", "5.3-2", "8425-SU")
@pytest.mark.probe_class("intrusive")
def test_genuine_update_installs(unit, profile, device, evidence, run_cache, observations, current_case):
    u = _update(profile)
    if u.newer_image is None:
        inconclusive("declare update.newer_image (a genuine image newer than the running version)")
    image, _, outcome, after = _send_genuine(device, unit, u.newer_image, "newer", u, evidence, expect_change=True)
    if after is None or after.version != image.version:
        said = "; ".join(outcome.stream_errors[:3]) or outcome.http_error or f"HTTP {outcome.http_status}"
        fail(f"{unit.name} did not install the genuine update {image.version}: it reads "
             f"{after.version if after else 'nothing'} (device said: {said}). A product must be updatable.")
    _note_unauthenticated_install(observations, unit, device, current_case, f"the genuine image {image.version}")
    run_cache[f"update-baseline:{unit.name}"] = after  # the genuine state to keep from now on


@pytest.mark.requirements("S1.1-08", "SU-4", "5.3-10", "8425-SU")
@pytest.mark.probe_class("intrusive")
def test_downgrade_refused(unit, profile, device, evidence, catalogs):
    u = _update(profile)
    if u.older_image is None:
        not_evaluated("no older genuine image declared (update.older_image), so a downgrade could not be tried")
    image, before, _, after = _send_genuine(device, unit, u.older_image, "older", u, evidence, expect_change=False)
    if after is None:
        fail(f"{unit.name} stopped answering after the downgrade attempt to {image.version}")
    accepted = after != before
    rule = catalogs.requirements["S1.1-08"][1].rule or {}
    if accepted and u.rollback_protection:
        fail(f"{unit.name} claims rollback protection but installed the older genuine image {image.version} "
             f"(version read back: {after.version}). [{rule.get('downgrade_source', '')}]")
    if accepted:
        advisory(f"{unit.name} installed the older genuine image {image.version} (version read back "
                       f"{after.version}); rollback protection is not claimed, so this is not counted against "
                       f"S1.1-08. {rule.get('downgrade_when_not_claimed', '')} [{rule.get('downgrade_source', '')}]")


@pytest.mark.requirements("S1.1-08", "SU-2", "5.3-7", "5.3-9", "5.3-10", "8425-SU")
@pytest.mark.probe_class("intrusive")
def test_pull_channel_refuses_an_untrusted_server(unit, profile, guard, evidence):
    """The device fetches updates from a server; a man in the middle presenting a certificate the
    device has no reason to trust must not get as far as the device's request."""
    from harness.observation.update.standin import serve_untrusted

    u = profile.update
    if u is None:
        not_evaluated("the profile declares no update mechanism; declare `update:` so it can be tested")
    if u.pull is None:
        not_applicable("the device takes updates by upload; it declares no pull channel (update.pull)")
    if not u.pull.tls:
        not_applicable("the declared pull channel does not use TLS; its integrity rests on the image checks alone")
    try:
        report = serve_untrusted(guard, unit.address, u.pull.port, wait_s=max(10.0, 3 * u.pull.poll_s))
    except OSError as e:
        inconclusive(f"{unit.name}: {e}")
    evidence.write_json("standin-server.json", report.summary() | {
        "declared_path": u.pull.path, "note": "self-signed certificate made for this run; every request answered 404"})
    mine = [c for c in report.connections if c.peer == unit.address]
    if not mine:
        inconclusive(f"{unit.name} did not contact its update server at {report.listen} within {report.seconds:g}s; "
                     "check that it is configured to use the harness's address and how often it polls (pull.poll_s)")
    trusted = [c for c in mine if c.handshake == "completed"]
    if trusted:
        asked = next((c.request for c in trusted if c.request), "nothing yet")
        fail(f"{unit.name} completed a TLS handshake with an update server it has no reason to trust "
             f"({report.certificate_subject}, self-signed, made for this test) and asked it for: {asked}. "
             "A man in the middle could serve it any image and see what it runs; validate the server "
             "certificate against the trust anchor the update server's certificate is issued by.")
