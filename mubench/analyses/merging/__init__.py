"""Weight merging base ↔ specialist (appendix G.2): the plan from config, layout conversion, merged folders, and
the tiny demo CLIPs trained offline."""
