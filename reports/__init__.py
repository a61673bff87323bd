"""Report writers. Each renders from a finished bundle alone, so anyone holding the bundle can
re-render or check it without the devices."""
