"""Published documents: disclosure policy, security.txt, update procedure, support period, read as evidence."""
