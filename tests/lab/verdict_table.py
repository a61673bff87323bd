"""Maintain `expected_verdicts.yaml`: compare lab bundles with the table and print what differs.

    python -m tests.lab.verdict_table cam=/tmp/b/cam hub=/tmp/b/hub router=/tmp/b/router

Prints every case the table lacks (as entries to review and paste, with the reason as a hint)
and every case whose verdict differs. It never writes the table: an expected verdict is a
judgement a person makes about the lab device, not something copied from the harness.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

TABLE_FILE = Path(__file__).with_name("expected_verdicts.yaml")


def main(argv: list[str]) -> int:
    table = yaml.safe_load(TABLE_FILE.read_text()) if TABLE_FILE.exists() else {}
    differ = 0
    for arg in argv:
        device, _, path = arg.partition("=")
        results = json.loads((Path(path) / "results.json").read_text())
        listed = table.get(device) or {}
        print(f"{device}:")
        for case in results["cases"]:
            spec = listed.get(case["id"])
            want = spec if isinstance(spec, str) or spec is None else spec["verdict"]
            if want is None:
                print(f"  {json.dumps(case['id'])}: {case['verdict']}  # NEW: {case['reason'][:100]}")
                differ += 1
            elif want != case["verdict"]:
                print(f"  {json.dumps(case['id'])}: {case['verdict']}  # table says {want}: {case['reason'][:100]}")
                differ += 1
        for gone in sorted(set(listed) - {c["id"] for c in results["cases"]}):
            print(f"  # {gone}: in the table, not in the run")
            differ += 1
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
