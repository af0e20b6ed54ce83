"""One module per CLI command: the orchestration (what is read, run, written, printed)."""
