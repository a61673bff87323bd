"""What a published document must say, judged by the rules the catalog keeps for its requirement.

The rules are data (`rule:` in the catalog: regular expressions with their text and source), so a
lab can read what a PASS rests on and tighten a pattern without a release. A pattern only decides
that something is *stated* (a contact address, a response time, an end date); whether the policy
is honoured is beyond any document check, and the report says the verdict rests on the document.
security.txt is validated by `sectxt` (RFC 9116: a Contact, an unexpired Expires, a well-formed
signature when signed), offline: it never fetches anything itself.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit, urlunsplit

from harness.observation.probes.documents import FetchedDocument

TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)
MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                          "september", "october", "november", "december"))}
DATES = (
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: date(int(m[1]), int(m[2]), int(m[3]))),
    (re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?"),
     lambda m: date(int(m[1]), int(m[2]), int(m[3] or 1))),
    (re.compile(r"\b(\d{1,2})\s+(" + "|".join(MONTHS) + r")\s+(\d{4})\b", re.IGNORECASE),
     lambda m: date(int(m[3]), MONTHS[m[2].lower()], int(m[1]))),
    (re.compile(r"\b(" + "|".join(MONTHS) + r")\s+(?:(\d{1,2}),?\s+)?(\d{4})\b", re.IGNORECASE),
     lambda m: date(int(m[3]), MONTHS[m[1].lower()], int(m[2] or 1))),
)


def plain_text(doc: FetchedDocument) -> str:
    """The words of a page: markup dropped, entities decoded, so a pattern never matches a tag."""
    text = doc.text
    if "html" in (doc.content_type or "").lower() or re.search(r"<(html|body|p|div)\b", text, re.IGNORECASE):
        text = html.unescape(TAGS.sub(" ", text))
    return re.sub(r"[ \t]+", " ", text)


@dataclass(frozen=True)
class Statement:
    """One thing the document must state, and whether it does (with the words that showed it)."""

    name: str
    found: str | None


def stated(text: str, rule: dict, names: list[str]) -> list[Statement]:
    """For each rule entry named, the first match of its pattern in the text (None: not stated)."""
    out = []
    for name in names:
        m = re.search(str(rule[name]), text, re.IGNORECASE | re.MULTILINE)
        out.append(Statement(name, m.group(0).strip()[:120] if m else None))
    return out


def _dates(text: str) -> list[date]:
    out = []
    for pattern, make in DATES:
        for m in pattern.finditer(text):
            try:
                out.append(make(m))
            except ValueError:  # 2026-13-40: not a date
                continue
    return out


@dataclass(frozen=True)
class SupportPeriod:
    ends: date | None  # the latest date stated in a sentence about support
    duration: str | None  # "5 years from the date of purchase", when no date is given
    sentence: str | None


def support_period(text: str, rule: dict) -> SupportPeriod:
    """The support period a page states: the sentences naming support or security updates
    (`rule["support_words"]`), the latest date in them, else a duration (`rule["duration"]`)."""
    sentences = re.split(r"(?<=[.!?。])\s+|\n+", text)
    about = [s for s in sentences if re.search(str(rule["support_words"]), s, re.IGNORECASE)]
    dated = [(d, s) for s in about for d in _dates(s)]
    if dated:
        ends, sentence = max(dated)
        return SupportPeriod(ends, None, sentence.strip()[:200])
    for s in about:
        m = re.search(str(rule["duration"]), s, re.IGNORECASE)
        if m:
            return SupportPeriod(None, m.group(0).strip(), s.strip()[:200])
    return SupportPeriod(None, None, None)


@dataclass(frozen=True)
class SecurityTxt:
    valid: bool
    errors: list[str]  # "code: message (line N)"
    contacts: list[str]
    policies: list[str]
    expires: str | None


def parse_security_txt(doc: FetchedDocument) -> SecurityTxt:
    from sectxt import Parser

    # RFC 9116 lets the first or the last URL of a redirect chain match a Canonical field
    chain = [_without_default_port(u) for u in (doc.source, *doc.redirects[-1:])] \
        if doc.origin != "declared-file" else None
    parser = Parser(doc.text.encode(), urls=chain)
    values: dict[str, list[str]] = {}
    for line in parser.lines:
        if line.get("type") == "field" and line.get("field_name"):
            values.setdefault(str(line["field_name"]).lower(), []).append(str(line.get("value", "")))
    errors = [f"{e['code']}: {e['message']}" + (f" (line {e['line']})" if e.get("line") else "")
              for e in parser.errors]
    return SecurityTxt(parser.is_valid(), errors, values.get("contact", []), values.get("policy", []),
                       (values.get("expires") or [None])[0])


def _without_default_port(url: str) -> str:
    parts = urlsplit(url)
    if (parts.scheme, parts.port) in (("https", 443), ("http", 80)):
        parts = parts._replace(netloc=parts.hostname or "")
    return urlunsplit(parts)
