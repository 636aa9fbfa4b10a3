"""``key=value`` command lines checked against a dataclass (typed, misspellings named)."""

from __future__ import annotations

import difflib
import sys
import typing
from dataclasses import fields

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
               dict: "a mapping (key.sub=value)", list: "a list ([a,b])"}


def _expected(schema: type, key: str) -> str:
    """'an integer' etc. for a dataclass field, from its annotation."""
    hints = typing.get_type_hints(schema)
    kinds = [t for t in typing.get_args(hints.get(key)) or (hints.get(key),) if t is not type(None)]
    names = [_TYPE_NAMES.get(typing.get_origin(t) or t, getattr(t, "__name__", str(t)))
             for t in kinds]
    return " or ".join(names) or "a value"


def parse_key_values(prog: str, schema: type, argv: list[str], help: str | None = None):
    """Merge ``key=value`` args into ``schema``'s defaults; exit with a clear message on an
    unknown key (and the closest known one), a wrong type, or a missing required value.
    ``--help`` prints ``help`` (what the command does and writes) and the keys' defaults."""
    known = [f.name for f in fields(schema)]
    if any(a in ("-h", "--help") for a in argv):
        defaults = OmegaConf.to_yaml(OmegaConf.structured(schema))
        head = help or f"usage: {prog} key=value ...\n"
        print(f"{head}\nkeys and defaults ('???' = required):\n\n{defaults}")
        sys.exit(0)
    for arg in argv:
        key = arg.split("=", 1)[0].split(".", 1)[0]  # dict fields take dotted keys: decoding.beam=4
        if "=" not in arg or key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"
            sys.exit(f"{prog}: error: unknown argument '{arg}'{hint}")
    cfg = OmegaConf.structured(schema)
    for arg in argv:  # one at a time, so a wrong type names its own argument
        key = arg.split("=", 1)[0].split(".", 1)[0]
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([arg]))
        except OmegaConfBaseException:
            sys.exit(f"{prog}: error: {arg}: {key} must be {_expected(schema, key)}")
    missing = [k for k in known if OmegaConf.is_missing(cfg, k)]
    if missing:
        sys.exit(f"{prog}: error: missing required argument(s): "
                 f"{', '.join(m + '=...' for m in missing)} (see --help)")
    return cfg
