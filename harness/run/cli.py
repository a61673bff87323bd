"""`iot-harness`: the command line of the IoT label harness.

Exit codes of `run` and `rejudge`, the same as the signed predicate's `exitCode`:
  0  every evaluated requirement PASS, NOT_APPLICABLE or ADVISORY
  1  some requirement FAILs (a FAIL under an active waiver does not count)
  3  no FAIL, but the assessment is incomplete: an automated requirement ended INCONCLUSIVE, ERROR,
     or NOT_EVALUATED for want of input
  2  harness or usage error, or a run that did not finish (interrupted): no verdict on the device
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE = 0, 1, 2, 3


def _err(msg: str) -> None:
    print(f"iot-harness: {msg}", file=sys.stderr)


# ---------------------------------------------------------------- profile
def cmd_profile_validate(args: argparse.Namespace) -> int:
    from harness.declaration.catalog import load_catalogs
    from harness.declaration.profile import ProfileError, load_profile
    from harness.judgement.policies import PoliciesInForce
    from harness.run.assessment import RunSetupError, check_declared_ids, missing_inputs

    try:
        p = load_profile(Path(args.file))
        check_declared_ids(p, load_catalogs())
    except ProfileError as e:
        print(str(e), file=sys.stderr)
        return EXIT_FAIL
    except RunSetupError as e:
        print(f"{args.file}: invalid device profile\n  - {e}", file=sys.stderr)
        return EXIT_FAIL
    lacking = [] if args.schema_only else missing_inputs(
        p, PoliciesInForce(p.communication.tls_policy, p.communication.ssh_policy))
    if lacking:
        print(f"{args.file}: valid as written, but a run would lack what it names (use --schema-only to check "
              "the declaration alone):\n  - " + "\n  - ".join(lacking), file=sys.stderr)
        return EXIT_FAIL
    from harness.judgement.coverage import unprobed_services

    for warning in unprobed_services(p, load_catalogs()):
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    print(
        f"{args.file}: valid ({p.identity.vendor} {p.identity.model}, {len(p.units)} unit(s), "
        f"{len(p.services)} declared service(s), schemes: {', '.join(p.schemes)})"
    )
    return EXIT_OK


def schema_text() -> str:
    from harness.declaration.profile import DeviceProfile

    schema = DeviceProfile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "IoT label harness device profile"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def cmd_profile_schema(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_results_schema(args: argparse.Namespace) -> int:
    from harness.record.results import schema_documents

    docs = schema_documents()
    if args.write:
        folder = Path(args.write)
        folder.mkdir(parents=True, exist_ok=True)
        for name, schema in docs.items():
            (folder / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
            print(f"wrote {folder / name}")
    else:
        sys.stdout.write(json.dumps(docs, indent=2, sort_keys=True) + "\n")
    return EXIT_OK


# ---------------------------------------------------------------- catalog
def cmd_catalog_list(args: argparse.Namespace) -> int:
    from harness.declaration.catalog import load_catalogs

    cats = load_catalogs()
    if args.scheme not in cats.by_scheme:
        _err(f"unknown scheme {args.scheme!r}; choose from {', '.join(cats.by_scheme)}")
        return EXIT_ERROR
    reqs = cats.by_scheme[args.scheme].requirements
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in reqs], indent=2, ensure_ascii=False))
        return EXIT_OK
    for r in reqs:
        flags = [str(r.method)] + (["automated"] if r.automated else []) + (["provisional"] if r.provisional else [])
        print(f"{r.id:<8} {r.title}  [{', '.join(flags)}]")
    return EXIT_OK


def cmd_catalog_coverage(args: argparse.Namespace) -> int:
    """Per requirement: how it is evaluated and by which checks and operator questions; exit 1 when
    any requirement is orphaned (nothing evaluates it, so every run would leave it unjudged)."""
    from harness.declaration.catalog import load_catalogs
    from harness.run.suite_map import requirement_coverage

    cats = load_catalogs()
    if args.scheme not in cats.by_scheme:
        _err(f"unknown scheme {args.scheme!r}; choose from {', '.join(cats.by_scheme)}")
        return EXIT_ERROR
    rows = requirement_coverage(cats, args.scheme)
    orphans = [r.id for r in rows if r.orphan]
    if args.json:
        print(json.dumps({"scheme": args.scheme, "orphans": orphans, "requirements": [
            {"id": r.id, "title": r.title, "method": r.method,
             "checks": [{"id": c.id, "method": c.method, "probe_class": c.probe_class} for c in r.checks],
             "questions": [q.id for q in r.questions]} for r in rows]}, indent=2, ensure_ascii=False))
    else:
        width = max(len(r.id) for r in rows)
        print(f"{cats.by_scheme[args.scheme].title} ({cats.by_scheme[args.scheme].edition})")
        for r in rows:
            print(f"{r.id:<{width}}  {r.method:<11}  {r.title}")
            for c in r.checks:
                extra = f", probe class {c.probe_class}" if c.probe_class != "safe" else ""
                print(f"{'':<{width}}    check     {c.id} ({c.method}{extra})")
            for q in r.questions:
                print(f"{'':<{width}}    question  {q.id}")
            if r.orphan:
                print(f"{'':<{width}}    ORPHAN: no check or question evaluates it")
        print(f"\n{len(rows)} requirements; orphans: {', '.join(orphans) or 'none'}")
    return EXIT_FAIL if orphans else EXIT_OK


def cmd_catalog_questions(args: argparse.Namespace) -> int:
    """The operator questions, as an answers file to fill in (or as JSON)."""
    from harness.declaration.catalog import load_catalogs
    from harness.declaration.questions import load_questions, questions_for

    cats = load_catalogs()
    bad = [s for s in args.scheme if s not in cats.by_scheme]
    if bad:
        _err(f"unknown scheme {', '.join(bad)}; choose from {', '.join(cats.by_scheme)}")
        return EXIT_ERROR
    qs = questions_for(args.scheme, cats) if args.scheme else list(load_questions())
    if args.json:
        print(json.dumps([q.model_dump(mode="json") for q in qs], indent=2, ensure_ascii=False))
        return EXIT_OK
    print("# Answers for `iot-harness run --answers FILE`: fill in each answer (PASS, FAIL or NOT_APPLICABLE),")
    print("# a note (required unless PASS) and attachments (paths relative to this file); delete the ones")
    print("# you cannot answer, which then stay NOT_EVALUATED \"needs operator answer\".")
    print("answered_by: \"\"")
    print("answers:")
    for q in qs:
        print(f"  # {q.asks}")
        print(f"  # PASS means: {q.pass_when}  (bears on {', '.join(q.requirements)})")
        if q.attach:
            print(f"  # attach: {q.attach}")
        print(f"  {q.id}:\n    answer: \n    note: \"\"\n    attachments: []")
    return EXIT_OK


# ---------------------------------------------------------------- run
def suites_dir() -> Path:
    import test_suites

    return Path(test_suites.__file__).parent


def _pytest_args(suites: Path, out: Path, extra: list[str]) -> list[str]:
    builtin = suites_dir()
    args = [
        str(suites),
        "-c", str(builtin / "pytest.ini"),
        "--rootdir", str(suites.parent),
        "--confcutdir", str(suites),
        "-p", "no:terminal",
        # labgrid's own pytest plugin (installed with labgrid) reads terminal options this run has
        # switched off; `run` reaches labgrid through its client API instead (harness.run.places)
        "-p", "no:labgrid",
        # its clean-up runs five full garbage collections as the session ends (a tenth of a forked
        # run's Python time) to turn unraisable exceptions into warnings no one reads here
        "-p", "no:unraisableexception",
        "--import-mode=importlib",
        "--iot-out", str(out),
        *extra,
    ]
    if suites != builtin:
        args.append("--iot-extra-suite")
    else:
        # the built-in checks end with verdicts, never a bare assert (tests/unit/test_registries.py
        # holds them to it): rewriting every module's asserts would cost each run a second of CPU
        args.append("--assert=plain")
    return args


def _run_suites(pargs: list[str], out: Path, args: argparse.Namespace) -> int:
    """Run the checks through pytest, then read the sealed bundle back through the verifying
    reader: what is printed and written is exactly what was signed."""
    import pytest

    from harness.record.reader import BundleRefused, open_bundle
    from reports import console

    if args.junit and not _writable_file(Path(args.junit)):
        _err(f"--junit {args.junit}: cannot write a file there (its folder must exist and be writable, and it must "
             "not be a folder); give a writable path, checked before the run so no device is assessed for nothing")
        return EXIT_ERROR
    # SIGTERM (CI cancelling a job) ends the run like Ctrl-C: evidence kept, bundle sealed incomplete.
    # SIGINT too, even when the parent left it ignored (a shell's background job, `nohup`-like
    # wrappers): a run that cannot be stopped cleanly would be stopped with SIGKILL, unsealed
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = pytest.main(pargs)
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_ERROR
    if not (out / "results.json").exists():
        _err(f"the run ended without results (pytest exit {int(code)}); see the messages above")
        return EXIT_ERROR
    try:
        bundle = open_bundle(out)
    except BundleRefused as e:
        _err(str(e))
        return EXIT_ERROR
    if args.json:
        print(bundle.results.model_dump_json(indent=2))
    else:
        print(console.table(bundle.results, str(out), bundle.manifest.rejudged_from is not None))
    if args.junit:
        from reports import junit

        try:
            Path(args.junit).write_text(junit.render(bundle))
        except OSError as e:
            _err(f"--junit {args.junit}: cannot write: {e.strerror}")
            return EXIT_ERROR
    if not bundle.results.complete:
        _err("the run is INCOMPLETE: the bundle holds what finished, but it is no verdict on the device")
    return bundle.results.summary.exit_code


def _forward(args: argparse.Namespace, *names: str) -> list[str]:
    """The plugin's --iot-* options for the CLI options given (repeatable ones once per value)."""
    out: list[str] = []
    for name in names:
        value = getattr(args, name)
        for v in value if isinstance(value, list) else [value] if value else []:
            out += [f"--iot-{name.replace('_', '-')}", str(v)]
    return out


def _writable_file(path: Path) -> bool:
    """Tried, not asked: permission bits say nothing for root, nor about /proc or a full disk."""
    existed = path.exists()
    try:
        with open(path, "a"):  # a folder raises; an existing file is left as it is
            pass
    except OSError:
        return False
    if not existed:
        path.unlink()
    return True


def cmd_run(args: argparse.Namespace) -> int:
    if args.fleet or len(args.profile) > 1:
        return cmd_fleet(args)
    if not args.profile:
        _err("give a device profile (--profile FILE), several, or a fleet file (--fleet FILE)")
        return EXIT_ERROR
    out = Path(args.out)
    suites = Path(args.suite).resolve() if args.suite else suites_dir()
    if not suites.is_dir():
        _err(f"--suite {args.suite}: not a folder of test files")
        return EXIT_ERROR
    extra = _forward(args, "profile", "scheme", "allow", "deny", "allow_network", "operator", "state", "signing_key",
                     "answers", "osv_data")
    if args.allow_wide_network:
        extra.append("--iot-allow-wide-network")
    if args.ask:
        extra.append("--iot-ask")
    if args.lg_place or args.lg_tags:
        return _run_on_places(args, suites, out, extra)
    return _run_suites(_pytest_args(suites, out, extra), out, args)


def _run_on_places(args: argparse.Namespace, suites: Path, out: Path, extra: list[str]) -> int:
    """Hold the labgrid places for the whole run: acquired (or waited for, within --lg-wait)
    before any case, released however the run ends; the units assessed are those the places hold."""
    import tempfile

    from harness.declaration.profile import ProfileError, load_profile
    from harness.run.places import PlaceError, PlaceLocks, parse_tags, units_on_places

    try:
        profile = load_profile(Path(args.profile[0]))
    except ProfileError as e:
        _err(str(e))
        return EXIT_ERROR
    # Ctrl-C and SIGTERM while waiting for a place end the wait (and release what was had)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    coordinator = args.lg_coordinator or os.environ.get("LG_COORDINATOR")
    try:
        with PlaceLocks(coordinator, args.lg_place, parse_tags(args.lg_tags), args.lg_wait) as record:
            units = units_on_places(profile, record.places)
            held = ", ".join(f"{p.name} (unit {p.unit})" for p in record.places)
            print(f"labgrid: holding {held} from {record.coordinator} (waited {record.waited_s:g} s)",
                  file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory(prefix="iot-labgrid-") as tmp:
                path = Path(tmp) / "labgrid.json"
                path.write_text(json.dumps(record.as_json()))
                extra = [*extra, "--iot-labgrid", str(path), *[a for u in units for a in ("--iot-unit", u)]]
                return _run_suites(_pytest_args(suites, out, extra), out, args)
    except PlaceError as e:
        _err(str(e))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted before the run began (waiting for labgrid places); nothing was sent to a unit, and "
             "every place this run held is released")
        return EXIT_INCOMPLETE


def cmd_fleet(args: argparse.Namespace) -> int:
    """Several devices: one `run` each, `--parallel` at a time; fleet.json and a table of verified
    digests; the worst exit code of the devices'."""
    from harness.run.fleet import Fleet, FleetDevice, FleetError, check_fleet, load_fleet, table

    if args.fleet and args.profile:
        _err("give either --fleet FILE or --profile (repeatable), not both")
        return EXIT_ERROR
    if args.ask:
        _err("--ask needs one device at a terminal; a fleet takes its answers from files (answers: in the fleet "
             "file, or --answers for all)")
        return EXIT_ERROR
    if args.fleet:
        try:
            fleet = load_fleet(Path(args.fleet))
        except FleetError as e:
            _err(str(e))
            return EXIT_ERROR
        devices, parallel = fleet.devices, args.parallel or fleet.parallel
    else:
        split = [c for c in args.allow.split(",") if c]
        deny = [c for c in args.deny.split(",") if c]
        devices = [FleetDevice(profile=Path(p), allow=split, deny=deny, scheme=args.scheme,
                               answers=Path(args.answers) if args.answers else None,
                               suite=Path(args.suite) if args.suite else None) for p in args.profile]
        parallel = args.parallel or 4
    if parallel < 1:
        _err(f"--parallel {parallel}: at least one device must run at a time")
        return EXIT_ERROR
    from harness.run.launcher import optional_imports, start_early

    checked = check_fleet(devices)
    if checked.problems:
        _err("the fleet cannot run (nothing was sent):\n  - " + "\n  - ".join(checked.problems))
        return EXIT_ERROR
    # it imports while the fleet prepares its runs
    start_early(optional_imports(checked.sboms, any(d.lg_place or d.lg_tags for d in devices)))
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        _err(f"--out {out}: the fleet's folder must be new or empty (each device gets a folder inside it)")
        return EXIT_ERROR
    common: list[str] = []  # what every device's run shares
    for opt, value in (("--operator", args.operator), ("--signing-key", args.signing_key),
                       ("--osv-data", args.osv_data), ("--lg-coordinator", args.lg_coordinator)):
        if value:
            common += [opt, str(value)]
    for network in args.allow_network:
        common += ["--allow-network", network]
    if args.allow_wide_network:
        common.append("--allow-wide-network")
    summary = Fleet(devices, out, parallel, common).run()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(table(summary))
        print(f"fleet summary: {out / 'fleet.json'}")
    return summary["exit_code"]


def cmd_rejudge(args: argparse.Namespace) -> int:
    """Judge a bundle again from its recorded observations, under revised policies or a corrected
    declaration, without any device contact: a new signed bundle naming the original's digest."""
    from harness.record.reader import BundleRefused, open_bundle

    src = Path(args.bundle)
    try:
        open_bundle(src)  # refuse a tampered bundle before anything else
    except BundleRefused as e:
        _err(str(e))
        return EXIT_ERROR
    extra = ["--iot-replay", str(src), *_forward(args, "profile", "scheme", "tls_policy", "ssh_policy", "signing_key",
                                                 "operator")]
    return _run_suites(_pytest_args(suites_dir(), Path(args.out), extra), Path(args.out), args)


# ---------------------------------------------------------------- bundle / report
def cmd_bundle_verify(args: argparse.Namespace) -> int:
    from harness.record.bundle import verify

    v = verify(Path(args.dir), Path(args.key) if args.key else None)
    if args.json:
        print(json.dumps(v.__dict__, indent=2))
    elif v.ok:
        note = "" if v.complete else " (the run itself was INCOMPLETE)"
        trust = "pinned key" if args.key else "the bundle's own key: integrity, not identity"
        print(f"{args.dir}: OK, {v.files} files as signed by {v.signer} ({trust}){note}")
        if v.evidence_digest:
            print(f"  its reports (reports/) were rendered from the evidence statement {v.evidence_digest}, "
                  "signed by the same key; only reports/ was added after it")
    else:
        print(f"{args.dir}: VERIFICATION FAILED", file=sys.stderr)
        for p in v.problems:
            print(f"  - {p}", file=sys.stderr)
    return EXIT_OK if v.ok else EXIT_FAIL


def cmd_report(args: argparse.Namespace) -> int:
    from harness.record.reader import BundleRefused, open_bundle
    from reports import ReportOptions, ReportUnavailable, report_formats

    formats = report_formats()
    if args.format not in formats:
        _err(f"unknown report format {args.format!r}; choose from {', '.join(sorted(formats))}")
        return EXIT_ERROR
    fmt = formats[args.format]
    output = Path(args.output) if args.output else None
    if (fmt.binary or fmt.directory) and output is None:
        _err(f"--format {args.format} writes a {'folder' if fmt.directory else 'binary file'}: give --out PATH")
        return EXIT_ERROR
    if fmt.directory and output.exists() and (not output.is_dir() or any(output.iterdir())):
        _err(f"--out {output}: exists and is not an empty folder; give a new or empty folder for {args.format}")
        return EXIT_ERROR
    try:
        bundle = open_bundle(Path(args.dir), Path(args.key) if args.key else None)
    except BundleRefused as e:
        _err(f"refusing to report: {e}")
        return EXIT_FAIL
    options = ReportOptions(lang=args.lang, output=output)
    try:
        if fmt.directory:
            return _render_folder(fmt, bundle, options)
        rendered = fmt(bundle, options)
    except ReportUnavailable as e:
        _err(f"cannot render {args.format}: {e}")
        return EXIT_ERROR
    if output is None:
        sys.stdout.write(rendered if isinstance(rendered, str) else rendered.decode())
        return EXIT_OK
    try:
        if isinstance(rendered, str):
            output.write_text(rendered, encoding="utf-8")
        else:
            output.write_bytes(rendered)
    except OSError as e:
        _err(f"--out {output}: cannot write: {e.strerror}; give a writable path")
        return EXIT_ERROR
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """What changed between two bundles of a device, and whether anything regressed (exit 1).
    Both are verified first; a refused bundle or bad output path is exit 2, never "no regression"."""
    from harness.record.compare import compare
    from harness.record.reader import BundleRefused, open_bundle
    from reports.diff import RENDER

    key = Path(args.key) if args.key else None
    try:
        old, new = (open_bundle(Path(d), key) for d in (args.old, args.new))
    except BundleRefused as e:
        _err(f"refusing to compare: {e}")
        return EXIT_ERROR
    diff = compare(old, new)
    rendered = RENDER[args.format](diff)
    if args.output:
        try:
            Path(args.output).write_text(rendered, encoding="utf-8")
        except OSError as e:
            _err(f"--out {args.output}: cannot write: {e.strerror}; give a writable path")
            return EXIT_ERROR
        if args.format != "text":
            sys.stdout.write(RENDER["text"](diff))
    else:
        sys.stdout.write(rendered)
    return EXIT_FAIL if diff.regressed else EXIT_OK


def _render_folder(fmt, bundle, options) -> int:
    """Render a folder format into a fresh sibling folder, then move it into place: --out holds a
    whole result set or nothing. A ReportUnavailable reaches the caller, the staging folder removed."""
    import dataclasses
    import shutil
    import tempfile

    target = Path(options.output)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        _err(f"--out {target}: cannot write there: {e.strerror}; give a writable path")
        return EXIT_ERROR
    try:
        summary = fmt(bundle, dataclasses.replace(options, output=staging))
        if target.exists():
            target.rmdir()  # checked empty above
        staging.rename(target)
    except OSError as e:
        _err(f"--out {target}: cannot write: {e.strerror}; give a writable path")
        return EXIT_ERROR
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{summary.strip() if isinstance(summary, str) else fmt.name}, written to {target}")
    return EXIT_OK


# ---------------------------------------------------------------- lab / demo
def cmd_ssh_policy_capture(args: argparse.Namespace) -> int:
    """Golden-device mode: write a policy that accepts exactly what a known-good unit offers."""
    from harness.judgement.ssh import golden_policy
    from harness.observation.probes.sshkex import SshOfferUnavailable, read_offer
    from harness.observation.scope import Scope, ScopeGuard, ScopeViolation

    try:
        guard = ScopeGuard(Scope.build([args.address], args.allow_network))
        offer = read_offer(guard, args.address, args.port, args.timeout)
    except ScopeViolation as e:
        _err(f"out of scope, nothing was sent: {e}")
        return EXIT_ERROR
    except SshOfferUnavailable as e:
        _err(f"{args.address}:{args.port}: {e}")
        return EXIT_ERROR
    out = Path(args.out)
    if out.exists() and not args.force:
        _err(f"{out} exists; choose a new file or pass --force")
        return EXIT_ERROR
    out.write_text(golden_policy(offer, args.id, f"{args.address}:{args.port}"))
    print(f"wrote {out}: golden offer of {offer.banner} ({len(offer.kex)} kex, {len(offer.host_key)} host key, "
          f"{len(offer.cipher)} cipher, {len(offer.mac)} MAC); set communication.ssh_policy: {out}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from lab import manager

    return manager.cli(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from lab import demo

    return demo.run_demo(Path(args.out) if args.out else None)


def _assessment_commands(sub) -> None:
    """run and rejudge: the commands that produce a bundle."""
    r = sub.add_parser("run", help="assess one device and write a signed evidence bundle",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--profile", action="append", default=[], help="device profile; repeat it to assess several "
                   "devices at once (each in a folder of its own under --out)")
    r.add_argument("--fleet", metavar="FILE", help="a fleet file: devices with their own profile, --allow, answers "
                   "and folder name, and how many run at once")
    r.add_argument("--parallel", type=int, metavar="N", help="devices assessed at once in a fleet (default 4, or "
                   "the fleet file's)")
    r.add_argument("--out", required=True, help="new folder for the bundle")
    r.add_argument("--scheme", action="append", default=[], help="scheme to evaluate (default: the profile's)")
    r.add_argument("--allow", default="", help="enable probe classes beyond safe and auth: intrusive,brute,dos")
    r.add_argument("--deny", default="", help="turn off a class that is on by default: auth (default-credential "
                   "logins, capped per account by limits.max_default_attempts_per_account)")
    r.add_argument("--allow-wide-network", action="store_true",
                   help="permit an --allow-network wider than /16 (IPv6: /48); a default route is never allowed")
    r.add_argument("--allow-network", action="append", default=[], metavar="CIDR",
                   help="a network outside the lab ranges the units may be in (you must be authorised)")
    r.add_argument("--operator")
    r.add_argument("--state", help="device state the unit is in, as the profile's `states` name it "
                   "(default: the first, normally as-delivered)")
    r.add_argument("--signing-key", help="Ed25519 PEM private key (default: the installation key)")
    r.add_argument("--suite", help="folder of checks to run instead of the built-in test_suites/")
    r.add_argument("--answers", metavar="FILE", help="the operator's answers to the attestation questions (YAML; "
                   "`iot-harness catalog questions` prints one to fill in)")
    r.add_argument("--osv-data", metavar="DIR", help="folder of OSV vulnerability records (JSON): match the declared "
                   "SBOM's components against them, offline (S1.1-13); without it no matching is done")
    r.add_argument("--ask", action="store_true", help="ask the questions --answers leaves open at the terminal, "
                   "before any device is touched (without either, they stay NOT_EVALUATED)")
    lg = r.add_argument_group("labgrid places", "take the units from a labgrid farm, locked for the run")
    lg.add_argument("--lg-place", action="append", default=[], metavar="NAME",
                    help="acquire this labgrid place and assess the declared unit it holds (repeatable)")
    lg.add_argument("--lg-tags", action="append", default=[], metavar="K=V[,K=V]",
                    help="reserve any free place with these tags, e.g. model=LabCam100 (repeatable: one place each)")
    lg.add_argument("--lg-coordinator", metavar="HOST:PORT",
                    help="labgrid coordinator (default: $LG_COORDINATOR, else 127.0.0.1:20408); loopback or the lab "
                         "network only")
    lg.add_argument("--lg-wait", type=float, default=0.0, metavar="SECONDS",
                    help="wait this long for a held place to be released (default 0: refuse at once)")
    r.add_argument("--json", action="store_true", help="print results.json instead of the table")
    r.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (outside the bundle)")
    r.set_defaults(func=cmd_run)



def _bundle_commands(sub) -> None:
    """bundle verify and report: the commands that read one."""
    b = sub.add_parser("bundle", help="evidence bundles").add_subparsers(dest="sub", required=True)
    bv = b.add_parser("verify", help="check signature and every file; exit 1 naming each problem")
    bv.add_argument("dir")
    bv.add_argument("--key", help="trusted signer public key (PEM); proves who signed, not just integrity")
    bv.add_argument("--json", action="store_true")
    bv.set_defaults(func=cmd_bundle_verify)

    rj = sub.add_parser("rejudge", help="judge a bundle again from its recorded observations (no device contact)",
                        description=cmd_rejudge.__doc__ + "\n\n" + __doc__.split("\n", 2)[2],
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    rj.add_argument("bundle", help="the sealed bundle to judge again (verified first)")
    rj.add_argument("--out", required=True, help="new folder for the re-judged bundle")
    rj.add_argument("--tls-policy", help="TLS policy id or file to judge by (default: the recorded profile's)")
    rj.add_argument("--ssh-policy", help="SSH policy id or file to judge by (default: the recorded profile's)")
    rj.add_argument("--profile", help="a corrected declaration (default: the one the bundle recorded)")
    rj.add_argument("--scheme", action="append", default=[], help="scheme to judge the evidence against (repeatable; "
                    "default: the corrected declaration's, else the original run's)")
    rj.add_argument("--signing-key", help="Ed25519 PEM private key (default: the installation key)")
    rj.add_argument("--operator")
    rj.add_argument("--json", action="store_true", help="print results.json instead of the table")
    rj.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    rj.set_defaults(func=cmd_rejudge)

    from reports import LANGUAGES, format_names

    rp = sub.add_parser("report", help="render a report from a verified bundle")
    rp.add_argument("dir")
    rp.add_argument("--format", default="text",
                    help=f"one of: {', '.join(format_names())} (discovered from reports/)")
    rp.add_argument("--key", help="trusted signer public key (PEM) to verify against")
    rp.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the labels (html, pdf)")
    rp.add_argument("-o", "--out", "--output", dest="output", help="write here instead of standard output")
    rp.set_defaults(func=cmd_report)

    from reports.diff import FORMATS as DIFF_FORMATS

    df = sub.add_parser("diff", help="compare two bundles (last release, this build); exit 1 if anything regressed",
                        description=cmd_diff.__doc__)
    df.add_argument("old", help="the bundle to compare against (e.g. the last release's)")
    df.add_argument("new", help="the bundle of the build under test")
    df.add_argument("--format", choices=DIFF_FORMATS, default="text")
    df.add_argument("--key", help="trusted signer public key (PEM) both bundles must be signed with")
    df.add_argument("-o", "--out", "--output", dest="output",
                    help="write the diff here (the text summary still goes to standard output)")
    df.set_defaults(func=cmd_diff)



def _lab_commands(sub) -> None:
    """ssh-policy capture, the reference lab and the demo."""
    sp = sub.add_parser("ssh-policy", help="SSH algorithm policies").add_subparsers(dest="sub", required=True)
    spc = sp.add_parser("capture", help="golden-device mode: write a policy from a known-good unit's offer")
    spc.add_argument("--address", required=True, help="IP literal of the known-good unit")
    spc.add_argument("--port", type=int, default=22)
    spc.add_argument("--id", required=True, help="policy id to record, e.g. acme-cam-golden")
    spc.add_argument("--out", required=True, help="policy file to write (YAML)")
    spc.add_argument("--force", action="store_true", help="overwrite an existing file")
    spc.add_argument("--timeout", type=float, default=5.0)
    spc.add_argument("--allow-network", action="append", default=[], metavar="CIDR")
    spc.set_defaults(func=cmd_ssh_policy_capture)

    lab = sub.add_parser("lab", help="the built-in reference lab").add_subparsers(dest="action", required=True)
    lu = lab.add_parser("up", help="build the lab (idempotent) and write its inventory")
    lu.add_argument("--devices", help="comma-separated lab devices to bring up (default: all)")
    lu.add_argument("--mode", choices=["netns", "loopback"],
                    help="force a mode (default: netns when namespaces can be made, else loopback)")
    lu.add_argument("--units", type=int, metavar="N",
                    help="N units of each model brought up (the defined ones first), with a one-unit profile each "
                         "and a fleet file listing them all")
    lu.add_argument("--labgrid", action="store_true",
                    help="also start a labgrid coordinator and exporter (tester-side loopback) publishing each "
                         "unit as a place tagged model/device/unit")
    lab.add_parser("down", help="kill every lab daemon and delete the namespaces (idempotent)")
    ls = lab.add_parser("status", help="namespaces and daemons; exit 1 if a daemon died")
    ls.add_argument("--json", action="store_true")
    le = lab.add_parser("exec", help="run a command inside the tester namespace")
    le.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    for sp in (lu, ls, le, lab.choices["down"]):
        sp.set_defaults(func=cmd_lab)

    d = sub.add_parser("demo", help="bring the lab up, assess every lab device, take the lab down")
    d.add_argument("--out", help="folder for the bundles (default: ./demo-output/<time>)")
    d.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iot-harness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    prof = sub.add_parser("profile", help="device declarations").add_subparsers(dest="sub", required=True)
    v = prof.add_parser("validate", help="check a device profile and everything it names (secrets, files, "
                        "policies, keys); exit 1 naming each problem")
    v.add_argument("file")
    v.add_argument("--schema-only", action="store_true",
                   help="check the declaration alone, not the files and secrets it names (e.g. a template)")
    v.set_defaults(func=cmd_profile_validate)
    s = prof.add_parser("schema", help="print (or --write) the profile's JSON Schema")
    s.add_argument("--write", metavar="PATH")
    s.set_defaults(func=cmd_profile_schema)

    res = sub.add_parser("results", help="the typed results of a bundle").add_subparsers(dest="sub", required=True)
    rs = res.add_parser("schema", help="print (or --write into a folder) the JSON Schemas of results and manifest")
    rs.add_argument("--write", metavar="DIR")
    rs.set_defaults(func=cmd_results_schema)

    cat = sub.add_parser("catalog", help="requirement catalogs").add_subparsers(dest="sub", required=True)
    cl = cat.add_parser("list", help="list a scheme's requirements")
    cl.add_argument("--scheme", required=True)
    cl.add_argument("--json", action="store_true")
    cl.set_defaults(func=cmd_catalog_list)
    cc = cat.add_parser("coverage", help="per requirement: method, checks and questions; exit 1 if any is orphaned")
    cc.add_argument("--scheme", required=True)
    cc.add_argument("--json", action="store_true")
    cc.set_defaults(func=cmd_catalog_coverage)
    cq = cat.add_parser("questions", help="the operator questions, printed as an answers file to fill in")
    cq.add_argument("--scheme", action="append", default=[], help="only those bearing on this scheme (repeatable)")
    cq.add_argument("--json", action="store_true")
    cq.set_defaults(func=cmd_catalog_questions)

    for add in (_assessment_commands, _bundle_commands, _lab_commands):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
