"""results.json as verified: the typed results, for tools that read JSON (schema in harness/record/schemas)."""

from __future__ import annotations

from harness.record.reader import VerifiedBundle

FORMAT = "json"


def render(bundle: VerifiedBundle) -> str:
    return bundle.results.model_dump_json(indent=2) + "\n"
