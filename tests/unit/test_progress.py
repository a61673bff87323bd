"""What a run prints while it goes: plain case lines in a log, and on a real terminal (a pty) a live
status line with the count so far and the time left against the run budget, redrawn during a
long case; and the closing table that lists FAILs first and folds what nothing evaluated."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

from harness.record.results import CaseResult
from harness.record.verdict import Verdict
from harness.run.progress import CLEAR, Progress
from tests.conftest import ROOT, harness

PROFILE = """
identity: {vendor: Acme, model: Slowcam, firmware_version: "1.0"}
units: [{name: u1, address: 127.0.0.5}]
services: [{name: web, port: 8080, protocol: http, purpose: admin pages, authentication: password}]
credentials: {kind: unique-per-unit}
schemes: [jc-star-1]
limits: {run_budget_s: 600}
"""

SUITE = '''
import time
import pytest

@pytest.mark.requirements("S1.1-12")
def test_tls(unit, findings):
    findings.fail("TLS 1.0 offered", target="u1:web/8080", rule="tls.protocol.TLSv1.0")

@pytest.mark.requirements("S1.1-13")
def test_slow(unit):
    time.sleep(2.5)
'''


class Tty:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


class Log(Tty):
    def isatty(self) -> bool:
        return False


def _case(verdict: Verdict) -> CaseResult:
    return CaseResult(id=f"checks.x[{verdict}]", check="checks.x", verdict=verdict, requirements=["S1.1-12"],
                      reason="why" if verdict is not Verdict.PASS else "")


def test_a_log_gets_one_plain_line_per_case_and_no_escape_codes():
    log = Log()
    p = Progress(600, time.monotonic(), log)
    p.begin(2)
    p.case_started("checks.x[FAIL]")
    p.case_done(_case(Verdict.FAIL))
    p.case_done(_case(Verdict.PASS))
    p.close()
    assert "\x1b" not in log.text and "\r" not in log.text
    assert log.text.splitlines()[0] == "[1/2] FAIL           checks.x[FAIL]"
    assert log.text.splitlines()[-1] == "[2/2] PASS           checks.x[PASS]"


def test_a_terminal_gets_the_count_and_the_time_left():
    tty = Tty()
    p = Progress(600.5, time.monotonic() - 65.2, tty)
    p.begin(4)
    p.case_started("checks.x[FAIL]")
    p.case_done(_case(Verdict.FAIL))
    assert CLEAR in tty.text
    status = p.status()
    assert status.startswith("1/4 done · FAIL 1 · 1m05s elapsed, 8m55s left of the run budget")
    assert "(about 3m15s at this pace)" in status
    p.close()
    assert tty.text.endswith(CLEAR)  # the status line is erased before the closing table


def test_the_status_never_wraps_on_a_narrow_terminal():
    tty = Tty()
    tty.fileno = lambda: -1  # no real terminal: the fallback width holds
    p = Progress(600, time.monotonic(), tty)
    p.begin(1)
    p.case_started("checks." + "x" * 300)
    assert all(len(part) < 200 for part in tty.text.split(CLEAR))


def test_a_real_terminal_sees_the_status_redrawn_during_a_long_case(tmp_path):
    (tmp_path / "suites" / "checks").mkdir(parents=True)
    (tmp_path / "suites" / "checks" / "test_checks.py").write_text(textwrap.dedent(SUITE))
    (tmp_path / "profile.yaml").write_text(PROFILE)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))  # a wide terminal
    argv = ["run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
            "--suite", str(tmp_path / "suites")]
    proc = subprocess.Popen([sys.executable, "-m", "harness.run.cli", *argv],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(30)
    os.close(leader)
    text = seen.decode(errors="replace")
    assert proc.returncode == 1, text
    assert "[1/2] FAIL" in text and "1/2 done · FAIL 1" in text
    assert "left of the run budget" in text
    # redrawn while the slow case ran: its own clock ticked past 1 s
    assert "now: checks.slow[u1] 1s" in text or "now: checks.slow[u1] 2s" in text, text


def test_the_closing_table_lists_fails_first_and_folds_what_nothing_evaluated(tmp_path):
    (tmp_path / "suites" / "checks").mkdir(parents=True)
    (tmp_path / "suites" / "checks" / "test_checks.py").write_text(textwrap.dedent(SUITE.replace("2.5", "0")))
    (tmp_path / "profile.yaml").write_text(PROFILE)
    r = harness("run", "--profile", str(tmp_path / "profile.yaml"), "--out", str(tmp_path / "b"),
                "--suite", str(tmp_path / "suites"))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("jc-star-1"))
    assert lines[head] == "jc-star-1  FAIL 1 · not evaluated 14 · PASS 1"
    assert lines[head + 1].startswith("  S1.1-12  FAIL")  # the FAIL first, then its case and reason
    assert "checks.tls[u1]: TLS 1.0 offered" in lines[head + 2]
    # a requirement left NOT_EVALUATED by an interface nobody judged is incomplete: it keeps its line
    s0101 = lines.index("  S1.1-01  not evaluated Access control based on authentication")
    assert "not judged: u1:web/tcp/8080" in lines[s0101 + 1]
    # those no automated case judged share one line, after the FAIL and the PASS
    folded = next(i for i, line in enumerate(lines) if line.startswith("  not evaluated (11): "))
    assert "S1.1-03" in lines[folded] and "S1.1-16" in lines[folded] and "S1.1-01" not in lines[folded]
    assert folded > lines.index(next(line for line in lines if line.startswith("  S1.1-13  PASS")))
