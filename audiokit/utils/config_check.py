"""Fail fast on a bad override, before anything is built: a misspelt key (naming the closest
valid one), an unknown config-group option (listing the options, with a did-you-mean), and a
value of the wrong type (``trainer.max_epochs=abc``: the key and the type it takes).

Hydra's struct mode already rejects ``trainer.max_epoch=3``, but only says the key is not in
struct; it accepts ``trainer.max_epochs=abc``, which then fails deep inside Lightning after
the data has loaded. We compose the overrides once before the run and check each of them.
The type a key takes is the type of its composed default (an int default takes whole
numbers, a float default any number, a bool default true/false; a null default anything).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, ListConfig, OmegaConf

_BAD_KEY = re.compile(r"Could not override '([^']+)'|Key '([^']+)' is not in struct")

# int-valued defaults that also take a fraction (Lightning reads a float as a share).
_INT_OR_FRACTION = re.compile(r"(^|\.)(limit_\w+_batches|val_check_interval|overfit_batches|"
                              r"gradient_clip_val)$")
# int-valued defaults that also take a word (model.freeze: a block count, or none / all).
_INT_OR_WORD = re.compile(r"(^|\.)freeze$")


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


def group_options(config_dir: str, group: str) -> list[str]:
    """The options of a config group: its YAML files, nested folders as ``sub/name``."""
    root = Path(config_dir) / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml")
                  if not p.name.startswith("_"))


def search_dirs(overrides: list[str]) -> list[str]:
    """The ``file://`` folders of a ``hydra.searchpath=[...]`` override (a user's own configs)."""
    dirs = []
    for override in overrides:
        if override.startswith("hydra.searchpath="):
            dirs += re.findall(r"file://([^,\]'\"]+)", override)
    return dirs


def check_groups(config_dir: str, overrides: list[str], extra_dirs: list[str] = ()) -> None:
    """An override that picks a config group option (``experiment=cls/nope``) must name one
    that exists (in the package's tree or a ``hydra.searchpath`` folder); the error lists
    them, closest first."""
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+")
        dirs = [d for d in (config_dir, *extra_dirs) if (Path(d) / key).is_dir()]
        if not dirs or value in ("null", "") or value[0] in "[{":
            continue
        options = sorted({o for d in dirs for o in group_options(d, key)})
        if value in options:
            continue
        close = difflib.get_close_matches(value, options, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigKeyError(f"unknown {key} '{value}'{hint} (available: {', '.join(options)})")


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, (DictConfig, dict)):
        return "a mapping"
    if isinstance(value, (ListConfig, list)):
        return "a list"
    return "a string"


def _fits(key: str, default, value) -> bool:
    """Whether ``value`` can stand where ``default`` stood."""
    if value is None or default is None or isinstance(default, str):
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        if isinstance(value, float) and _INT_OR_FRACTION.search(key):
            return True
        if isinstance(value, str) and _INT_OR_WORD.search(key):
            return True
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, DictConfig):
        return isinstance(value, DictConfig)
    if isinstance(default, ListConfig):
        return isinstance(value, ListConfig)
    return True


def _leaf(cfg: DictConfig, key: str):
    """(found, value) of a dotted key, without resolving interpolations (None if one)."""
    parent_path, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_path) if parent_path else cfg
    if not isinstance(parent, DictConfig) or leaf not in parent:
        return False, None
    node = parent._get_node(leaf)
    if node is None or OmegaConf.is_interpolation(parent, leaf) or OmegaConf.is_missing(parent, leaf):
        return True, None
    return True, parent[leaf]


def check_types(config_dir: str, config_name: str, overrides: list[str],
                composed: DictConfig, searchpath: list[str] = ()) -> None:
    """Each ``key=value`` override must have the type of the key's default."""
    values = [o for o in overrides
              if "=" in o and not (Path(config_dir) / o.split("=", 1)[0]).is_dir()]
    checked = []
    for override in values:
        key = override.split("=", 1)[0]
        found, value = _leaf(composed, key)
        if found and not isinstance(value, DictConfig):
            checked.append((override, key, value))
    if not checked:
        return
    base = _compose(config_dir, config_name,
                    [*searchpath, *(o for o in overrides if o not in values)])
    for override, key, value in checked:
        found, default = _leaf(base, key)
        if found and not _fits(key, default, value):
            raise ConfigKeyError(f"{override}: {key} takes {_type_name(default)} (its default "
                                 f"is {OmegaConf.to_yaml(default).strip() if isinstance(default, (DictConfig, ListConfig)) else default!r})")


def _one_line(e: Exception) -> str:
    """Hydra's multi-line message, without its pointers to docs and stack traces."""
    lines = [line.strip() for line in str(e).splitlines()]
    text = "; ".join(line for line in lines
                     if line and not line.startswith(("See https://", "Set the environment")))
    if type(e).__name__ == "OverrideParseException":
        text = f"an override does not parse (key=value, see Hydra's override grammar): {text}"
    return text


def require_values(cfg: DictConfig) -> None:
    """Raise :class:`ConfigKeyError` naming every key still ``???`` (required, no default) in
    the composed config: the run would otherwise stop deep inside the build."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigKeyError(f"required value(s) not given: {', '.join(m + '=...' for m in missing)}")


def check_overrides(config_dir: str, config_name: str, overrides: list[str]) -> DictConfig | None:
    """Raise :class:`ConfigKeyError` naming the problem if an override names an unknown key
    or group option, gives a value of the wrong type, or does not parse; return the
    composed config."""
    plain = [o for o in overrides if not o.startswith(("hydra.", "hydra/", "+", "~", "-"))]
    searchpath = [o for o in overrides if o.startswith("hydra.searchpath=")]
    check_groups(config_dir, plain, search_dirs(searchpath))
    try:
        composed = _compose(config_dir, config_name, searchpath + plain)
        check_types(config_dir, config_name, plain, composed, searchpath)
        extra = [o for o in overrides if o.startswith(("+", "~")) and not o.startswith("+hydra")]
        if extra:  # additions and deletions: Hydra's own checks, reported on one line
            try:
                composed = _compose(config_dir, config_name, searchpath + plain + extra)
            except Exception as e:
                raise ConfigKeyError(_one_line(e)) from None
        return composed
    except ConfigKeyError:
        raise
    except Exception as e:  # Hydra wraps OmegaConf errors in several exception types
        text = f"{e} {e.__cause__ or ''}"
        match = _BAD_KEY.search(text)
        if not match:  # bad syntax, a missing file...: Hydra's words, on one line
            raise ConfigKeyError(_one_line(e)) from None
        key = match.group(1) or match.group(2)
        bad = [o for o in plain if o.split("=", 1)[0] == key]
        base = _compose(config_dir, config_name, searchpath + [o for o in plain if o not in bad])
        parent, matches = closest_keys(base, key)
        hint = f"; did you mean '{(parent + '.') if parent else ''}{matches[0]}'?" if matches else ""
        raise ConfigKeyError(
            f"unknown config key '{key}'{hint} (append '+{key}=...' to add a new key on purpose)"
        ) from None
    finally:
        GlobalHydra.instance().clear()
