"""Paper tables and figures built from score tables (pure functions; the rules only read and write files)."""
