"""audiokit: config-driven training for speech and audio (Hydra configs, Lightning trainers, recipes)."""

import os

# PyTorch's CPU conv/matmul backend keeps two caches keyed by input shape: oneDNN's compiled
# kernels (ONEDNN_PRIMITIVE_CACHE_CAPACITY) and ideep's primitives with their buffers
# (LRU_CACHE_CAPACITY), 1,024 entries each by default. Speech batches change shape every step,
# so both mostly grow and peak memory climbs for the whole run. 64 and 16 entries still hold a
# step's kernels at the same speed, while smaller oneDNN caches slowed Conv-TasNet (figures:
# recipes/fsdd/asr/RESULTS.md). Read when the first kernel is built, so they must be set
# before; a user's value wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")
os.environ.setdefault("LRU_CACHE_CAPACITY", "16")

__version__ = "0.1.0"
