"""Answering: every question of a benchmark put to a model (contrastive, generative, random) and every box asked
for (detection), with per-sample caches so an interrupted job resumes."""
