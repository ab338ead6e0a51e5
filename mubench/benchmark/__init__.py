"""Benchmark sources (demo, ubench, …) and the one table schema they all produce (DESIGN §2)."""
