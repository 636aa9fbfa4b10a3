"""Fail fast on a misspelt config key, naming the closest valid one.

Hydra's struct mode already rejects ``trainer.max_epoch=3``, but only says the key is not
in struct. We compose the overrides once before the run and, on such an error, say which
keys exist at that place and which one was probably meant.
"""

from __future__ import annotations

import difflib
import re

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

_BAD_KEY = re.compile(r"Could not override '([^']+)'|Key '([^']+)' is not in struct")


class ConfigKeyError(ValueError):
    pass


def _compose(config_dir: str, config_name: str, overrides: list[str]) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        return compose(config_name=config_name, overrides=overrides)


def closest_keys(cfg: DictConfig, dotted_key: str) -> tuple[str, list[str]]:
    """(parent path, close matches) for a key that does not exist in ``cfg``."""
    parent_path, _, leaf = dotted_key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
    keys = list(parent.keys()) if isinstance(parent, DictConfig) else []
    return parent_path, difflib.get_close_matches(leaf, [str(k) for k in keys], n=3, cutoff=0.6)


def check_overrides(config_dir: str, config_name: str, overrides: list[str]) -> None:
    """Raise :class:`ConfigKeyError` with a suggestion if an override names an unknown key."""
    plain = [o for o in overrides if not o.startswith(("hydra.", "+", "~", "-"))]
    try:
        _compose(config_dir, config_name, plain)
    except Exception as e:  # Hydra wraps OmegaConf errors in several exception types
        text = f"{e} {e.__cause__ or ''}"
        match = _BAD_KEY.search(text)
        if not match:
            return  # not a key problem: let Hydra report it in its own words
        key = match.group(1) or match.group(2)
        bad = [o for o in plain if o.split("=", 1)[0] == key]
        base = _compose(config_dir, config_name, [o for o in plain if o not in bad])
        parent, matches = closest_keys(base, key)
        hint = f"; did you mean '{(parent + '.') if parent else ''}{matches[0]}'?" if matches else ""
        raise ConfigKeyError(
            f"unknown config key '{key}'{hint} (append '+{key}=...' to add a new key on purpose)"
        ) from None
    finally:
        GlobalHydra.instance().clear()
