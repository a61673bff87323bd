"""The checks, grouped by security outcome. Each test names the requirements it evaluates in its
`requirements` marker; that marker is the only place the test-to-requirement mapping lives."""
