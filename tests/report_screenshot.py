"""What a screenshot of the HTML report shows: how many pixels carry each verdict's badge colour.

Used by the demo's lab test (the page a manufacturer opens shows its verdict table) and by `make
bench`, which keeps the screenshot as an artefact. The colours are read from the report's own
stylesheet, so a restyled page needs no change here.
"""

from __future__ import annotations

import io
import re
from importlib import resources

from PIL import Image


def badge_colours() -> dict[str, tuple[int, int, int]]:
    css = (resources.files("reports") / "templates" / "report.html.j2").read_text()
    out = {}
    for verdict, hexcolour in re.findall(r"\.v-([A-Z_]+) \{ background: #([0-9a-f]{6});", css):
        out[verdict] = tuple(int(hexcolour[i:i + 2], 16) for i in (0, 2, 4))
    return out


def verdict_pixels(png: bytes) -> dict[str, int]:
    """Verdict -> number of pixels of exactly its badge colour in the screenshot."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    counts = dict(image.getcolors(maxcolors=1 << 24) or [])
    by_colour = {rgb: n for n, rgb in counts.items()}
    return {verdict: by_colour.get(rgb, 0) for verdict, rgb in badge_colours().items()}
