"""Near-duplicate detection: MinHash LSH for text, perceptual hashes and embeddings for images.

The algorithms here work on arrays and know nothing about the ledger; the near-dedup step wires
them into the pipeline.
"""
