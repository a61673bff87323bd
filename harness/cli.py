"""`iot-harness`: the command line. Exit codes: 0 no requirement FAILs, 1 some FAIL, 2 harness or
usage error (including an incomplete run), so firmware CI can gate on it directly."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _err(msg: str) -> None:
    print(f"iot-harness: {msg}", file=sys.stderr)


# ---------------------------------------------------------------- profile
def cmd_profile_validate(args: argparse.Namespace) -> int:
    from harness.catalog import load_catalogs
    from harness.profile import ProfileError, load_profile
    from harness.run import RunSetupError, check_declared_ids

    try:
        p = load_profile(Path(args.file))
        check_declared_ids(p, load_catalogs())
    except ProfileError as e:
        print(str(e), file=sys.stderr)
        return EXIT_FAIL
    except RunSetupError as e:
        print(f"{args.file}: invalid device profile\n  - {e}", file=sys.stderr)
        return EXIT_FAIL
    print(
        f"{args.file}: valid ({p.identity.vendor} {p.identity.model}, {len(p.units)} unit(s), "
        f"{len(p.services)} declared service(s), schemes: {', '.join(p.schemes)})"
    )
    return EXIT_OK


def schema_text() -> str:
    from harness.profile import DeviceProfile

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


# ---------------------------------------------------------------- catalog
def cmd_catalog_list(args: argparse.Namespace) -> int:
    from harness.catalog import load_catalogs

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


# ---------------------------------------------------------------- run
def suites_dir() -> Path:
    import test_suites

    return Path(test_suites.__file__).parent


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    from harness.results import blocking_failures
    from harness.run import load_results
    from reports import console

    out = Path(args.out)
    builtin = suites_dir()
    suites = Path(args.suite).resolve() if args.suite else builtin
    if not suites.is_dir():
        _err(f"--suite {args.suite}: not a folder of test files")
        return EXIT_ERROR
    pargs = [
        str(suites),
        "-c", str(builtin / "pytest.ini"),
        "--rootdir", str(suites.parent),
        "--confcutdir", str(suites),
        "-p", "no:terminal",
        "--import-mode=importlib",
        "--iot-profile", args.profile,
        "--iot-out", str(out),
    ]
    for s in args.scheme:
        pargs += ["--iot-scheme", s]
    if args.allow:
        pargs += ["--iot-allow", args.allow]
    for n in args.allow_network:
        pargs += ["--iot-allow-network", n]
    if args.operator:
        pargs += ["--iot-operator", args.operator]
    if args.state:
        pargs += ["--iot-state", args.state]
    if args.signing_key:
        pargs += ["--iot-signing-key", args.signing_key]
    if suites != builtin:
        pargs.append("--iot-extra-suite")
    # SIGTERM (CI cancelling a job) ends the run like Ctrl-C: evidence kept, bundle sealed incomplete
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code = pytest.main(pargs)
    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_ERROR
    if not (out / "results.json").exists():
        _err(f"the run ended without results (pytest exit {int(code)}); see the messages above")
        return EXIT_ERROR
    results = load_results(out)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(console.render(results, bundle=str(out)))
    if args.junit:
        from reports import junit

        Path(args.junit).write_text(junit.render(results))
    if not results["complete"]:
        _err("the run is INCOMPLETE: the bundle holds what finished, but it is no verdict on the device")
        return EXIT_ERROR
    if blocking_failures(results["requirements"]):
        return EXIT_FAIL
    if any(c["verdict"] == "ERROR" for c in results["cases"]):
        return EXIT_ERROR
    return EXIT_OK


# ---------------------------------------------------------------- bundle / report
def cmd_bundle_verify(args: argparse.Namespace) -> int:
    from harness.bundle import verify

    v = verify(Path(args.dir), Path(args.key) if args.key else None)
    if args.json:
        print(json.dumps(v.__dict__, indent=2))
    elif v.ok:
        note = "" if v.complete else " (the run itself was INCOMPLETE)"
        trust = "pinned key" if args.key else "the bundle's own key: integrity, not identity"
        print(f"{args.dir}: OK, {v.files} files as signed by {v.signer} ({trust}){note}")
    else:
        print(f"{args.dir}: VERIFICATION FAILED", file=sys.stderr)
        for p in v.problems:
            print(f"  - {p}", file=sys.stderr)
    return EXIT_OK if v.ok else EXIT_FAIL


def cmd_report(args: argparse.Namespace) -> int:
    from harness.run import load_results
    from reports import console, junit

    try:
        results = load_results(Path(args.dir))
    except (OSError, ValueError) as e:
        _err(f"cannot read {args.dir}/results.json: {e}")
        return EXIT_ERROR
    text = junit.render(results) if args.format == "junit" else console.render(results, args.dir) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ---------------------------------------------------------------- lab / demo
def cmd_ssh_policy_capture(args: argparse.Namespace) -> int:
    """Golden-device mode: write a policy that accepts exactly what a known-good unit offers."""
    from harness.probes.sshkex import SshOfferUnavailable, read_offer
    from harness.scope import Scope, ScopeGuard, ScopeViolation
    from harness.sshaudit import golden_policy

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iot-harness", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    prof = sub.add_parser("profile", help="device declarations").add_subparsers(dest="sub", required=True)
    v = prof.add_parser("validate", help="check a device profile; exit 1 naming each bad field")
    v.add_argument("file")
    v.set_defaults(func=cmd_profile_validate)
    s = prof.add_parser("schema", help="print (or --write) the profile's JSON Schema")
    s.add_argument("--write", metavar="PATH")
    s.set_defaults(func=cmd_profile_schema)

    cat = sub.add_parser("catalog", help="requirement catalogs").add_subparsers(dest="sub", required=True)
    cl = cat.add_parser("list", help="list a scheme's requirements")
    cl.add_argument("--scheme", required=True)
    cl.add_argument("--json", action="store_true")
    cl.set_defaults(func=cmd_catalog_list)

    r = sub.add_parser("run", help="assess one device and write a signed evidence bundle")
    r.add_argument("--profile", required=True)
    r.add_argument("--out", required=True, help="new folder for the bundle")
    r.add_argument("--scheme", action="append", default=[], help="scheme to evaluate (default: the profile's)")
    r.add_argument("--allow", default="", help="enable probe classes beyond safe: intrusive,brute,dos")
    r.add_argument("--allow-network", action="append", default=[], metavar="CIDR",
                   help="a network outside the lab ranges the units may be in (you must be authorised)")
    r.add_argument("--operator")
    r.add_argument("--state", help="device state the unit is in, as the profile's `states` name it "
                   "(default: the first, normally as-delivered)")
    r.add_argument("--signing-key", help="Ed25519 PEM private key (default: the installation key)")
    r.add_argument("--suite", help="folder of checks to run instead of the built-in test_suites/")
    r.add_argument("--json", action="store_true", help="print results.json instead of the table")
    r.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (outside the bundle)")
    r.set_defaults(func=cmd_run)

    b = sub.add_parser("bundle", help="evidence bundles").add_subparsers(dest="sub", required=True)
    bv = b.add_parser("verify", help="check signature and every file; exit 1 naming each problem")
    bv.add_argument("dir")
    bv.add_argument("--key", help="trusted signer public key (PEM); proves who signed, not just integrity")
    bv.add_argument("--json", action="store_true")
    bv.set_defaults(func=cmd_bundle_verify)

    rp = sub.add_parser("report", help="render a report from a bundle")
    rp.add_argument("dir")
    rp.add_argument("--format", choices=["text", "junit"], default="text")
    rp.add_argument("-o", "--output")
    rp.set_defaults(func=cmd_report)

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
