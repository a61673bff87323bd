"""The device side of an update: send an image the way the device takes it, listen to what the
device says about it, and read back what it then runs.

A verdict never rests on the upload's HTTP status: SWUpdate resets the connection when it
rejects early and answers 200 to images it refuses later; a home-made updater says "installed"
to anything. What counts is the device's own state read back afterwards (and, where the agent
has one, its status stream, whose reasons go into the evidence). The status stream is read with
websocket-client; the upload and the version reads go through the probes' one HTTP exchange
(`probes/http_client.py`: scope guard, deadline, byte cap). The channel's TLS is reached, not
judged, here: the TLS checks judge it.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from harness.observation.probes.http_client import exchange
from harness.observation.probes.login import Unreachable
from harness.observation.scope import ScopeGuard
from harness.observation.update.manifest import dig

VERSION_MAX_BYTES = 64 << 10  # an os-release or a status document


class DeviceUnreachable(Unreachable):
    """The device's version could not be read (not answering, or not in the declared form)."""


@dataclass(frozen=True)
class DeviceState:
    text: str
    version: str | None


@dataclass
class UploadOutcome:
    http_status: int | None = None
    http_error: str | None = None
    stream_status: list[str] = field(default_factory=list)
    stream_errors: list[str] = field(default_factory=list)
    stream_messages: list[dict] = field(default_factory=list)
    stream_problem: str | None = None
    seconds: float = 0.0

    @property
    def device_result(self) -> str | None:
        """SUCCESS or FAILURE as the device's status stream reported it (None without a stream)."""
        finals = [s for s in self.stream_status if s in ("SUCCESS", "FAILURE")]
        return finals[-1] if finals else None

    def summary(self) -> dict:
        return asdict(self) | {"device_result": self.device_result}


@dataclass
class UpdateEndpoint:
    guard: ScopeGuard
    address: str
    port: int
    scheme: str = "http"
    upload_path: str = "/upload"
    upload_encoding: str = "multipart"
    upload_method: str = "POST"
    upload_field: str = "file"
    signature_field: str | None = None  # multipart field of a detached signature (raw-signed images)
    version_path: str = "/os-release"
    version_pattern: str = r'VERSION_ID="?([^"\s]+)'
    version_json_path: str | None = None
    status_stream: str = "none"
    timeout: float = 10.0
    verify: bool | str = False
    auth: tuple[str, str] | None = field(default=None, repr=False)  # HTTP basic, from the declared account
    read_text: Callable[[], str] | None = field(default=None, repr=False)  # another way to read the version (SSH)

    def _url(self, path: str, scheme: str | None = None) -> str:
        return f"{scheme or self.scheme}://{self.address}:{self.port}{path}"

    def read_state(self) -> DeviceState:
        if self.read_text is not None:
            try:
                text = self.read_text()
            except (Unreachable, OSError) as e:
                raise DeviceUnreachable(f"cannot read the running version: {e}") from None
            return DeviceState(text=text[:4096], version=self._version(text))
        try:
            r = exchange(self.guard, self.address, self.port, self.scheme == "https", "GET", self.version_path,
                         timeout=self.timeout, max_bytes=VERSION_MAX_BYTES, auth=self.auth)
        except Unreachable as e:
            raise DeviceUnreachable(f"cannot read the running version at {self.version_path}: {e}") from None
        if r.status_code != 200:
            raise DeviceUnreachable(f"GET {self.version_path} answered {r.status_code}, not the running version")
        return DeviceState(text=r.text[:4096], version=self._version(r.text))

    def _version(self, text: str) -> str | None:
        """The running version, by the declared reader: a dotted key of a JSON answer, or the regex."""
        if self.version_json_path is None:
            m = re.search(self.version_pattern, text)
            return m.group(1) if m else None
        try:
            value = json.loads(text)
        except ValueError:
            raise DeviceUnreachable(f"{self.version_path} did not answer JSON; cannot read "
                                    f"{self.version_json_path}") from None
        value = dig(value, self.version_json_path)
        return None if value is None else str(value)

    def settled_state(self, settle_s: float) -> DeviceState | None:
        """The state once the device answers twice the same (an install may 'reboot' it);
        None when it did not answer again within `settle_s`."""
        deadline = time.monotonic() + settle_s
        last: DeviceState | None = None
        while time.monotonic() < deadline:
            try:
                now = self.read_state()
            except DeviceUnreachable:
                last = None
                time.sleep(0.2)
                continue
            if last is not None and now == last:
                return now
            last = now
            time.sleep(0.3)
        return last

    def upload(self, image: bytes, filename: str, stream_wait_s: float = 8.0,
               detached: bytes | None = None, detached_name: str | None = None) -> UploadOutcome:
        """Send an image the way the device takes updates: class `intrusive` (it may change the
        device), so the guard refuses it in a run that has not allowed that class. `detached` (a
        raw image's signature) goes in the same form as `signature_field`; None sends the image
        alone, as an attacker stripping the signature would."""
        with self.guard.probe_class("intrusive"):
            return self._upload(image, filename, stream_wait_s, detached, detached_name or f"{filename}.sig")

    def _upload(self, image: bytes, filename: str, stream_wait_s: float, detached: bytes | None,
                detached_name: str) -> UploadOutcome:
        out = UploadOutcome()
        listener = self._listen(out, stream_wait_s) if self.status_stream == "swupdate-websocket" else None
        t0 = time.monotonic()
        files = {self.upload_field: (filename, image)}
        if detached is not None and self.signature_field:
            files[self.signature_field] = (detached_name, detached)
        body = ({"files": files} if self.upload_encoding == "multipart" else
                {"data": image, "headers": {"Content-Type": "application/octet-stream"}})
        try:
            r = exchange(self.guard, self.address, self.port, self.scheme == "https", self.upload_method,
                         self.upload_path, timeout=max(self.timeout, 30), max_bytes=65536, auth=self.auth, **body)
            out.http_status = r.status_code
        except Unreachable as e:
            out.http_error = str(e)[:300]
        if listener is not None:
            listener.join(stream_wait_s + 2)
        out.seconds = round(time.monotonic() - t0, 3)
        return out

    def _listen(self, out: UploadOutcome, wait_s: float) -> threading.Thread:
        """Open SWUpdate's websocket before the upload and collect its frames until a final
        status has been seen (and 0.5 s more: error lines arrive after FAILURE) or `wait_s`."""
        import websocket

        ready = threading.Event()

        def run() -> None:
            ws_scheme = "wss" if self.scheme == "https" else "ws"
            try:
                with self.guard.slot(self.address, self.port, self.timeout):
                    tls = {"cert_reqs": ssl.CERT_NONE} if self.verify is False else {"ca_certs": self.verify}
                    header = [f"Authorization: {_basic(self.auth)}"] if self.auth else None
                    ws = websocket.create_connection(self._url("/", ws_scheme), timeout=0.5, sslopt=tls,
                                                     header=header)
                    ready.set()
                    deadline = time.monotonic() + wait_s
                    final_at = None
                    while time.monotonic() < deadline and (final_at is None or time.monotonic() < final_at + 0.5):
                        try:
                            frame = ws.recv()
                        except websocket.WebSocketTimeoutException:
                            continue
                        except (websocket.WebSocketException, OSError):
                            break
                        _record_frame(out, frame)
                        if out.device_result and final_at is None:
                            final_at = time.monotonic()
                    ws.close()
            except (websocket.WebSocketException, OSError) as e:
                out.stream_problem = f"status stream unavailable: {e}"
            finally:
                ready.set()

        t = threading.Thread(target=run, name="update-status", daemon=True)
        t.start()
        ready.wait(self.timeout)
        return t


def _basic(auth: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def _record_frame(out: UploadOutcome, frame: str | bytes) -> None:
    try:
        msg = json.loads(frame)
    except (ValueError, TypeError):
        return
    if not isinstance(msg, dict):
        return
    out.stream_messages.append(msg)
    if msg.get("type") == "status":
        out.stream_status.append(str(msg.get("status")))
    elif msg.get("type") == "message" and str(msg.get("level")) == "3":
        out.stream_errors.append(str(msg.get("text")))
