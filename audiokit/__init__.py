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

# The inference objects, imported on first use so that `import audiokit` stays fast (torch,
# Lightning and the models load only when one of these is asked for). A new pipeline
# (Text2Speech) is one more line here.
_EXPORTS = {
    "AudioClassifier": "audiokit.inference.classify",
    "Speech2Text": "audiokit.inference.speech2text",
    "SpeakerEmbedder": "audiokit.inference.speaker",
    "Separator": "audiokit.inference.separate",
    "Diarizer": "audiokit.inference.diarization",
    "Codec": "audiokit.inference.codec",
    "Vocoder": "audiokit.inference.vocode",
    "Text2Speech": "audiokit.inference.text2speech",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'audiokit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
