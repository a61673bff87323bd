"""Stage 1, the declaration: what the manufacturer claims (the device profile) and what the schemes
ask (the requirement catalogs). Validated in full before a run starts, so a run never stops
halfway over a typo. A new scheme is one catalog file here (or in $IOT_HARNESS_CATALOGS)."""
