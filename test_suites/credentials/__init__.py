"""Access control and credentials: default, shared and guessable logins."""
