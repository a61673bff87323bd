"""Stage 5, the run: one assessment's life cycle (`assessment.py`), the pytest plugin that turns
the checks in test_suites/ into cases with findings, and the command line."""
