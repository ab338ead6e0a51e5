"""The paper's analyses beyond Table 1: linear probe, pHash near-duplicates, weight merging."""
