"""audiokit: config-driven training for speech and audio (Hydra configs, Lightning trainers, recipes)."""

__version__ = "0.1.0"
