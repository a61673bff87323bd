"""Stage 4, the record: verdicts and their one aggregation, findings, the typed results and
manifest (schemas exported to `schemas/`), evidence written as the run goes, the sealed and
signed bundle, and the one reader that verifies a bundle before anything reads it."""
