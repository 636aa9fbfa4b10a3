"""``key=value`` command lines checked against a dataclass (typed, misspellings named)."""

from __future__ import annotations

import difflib
import sys
from dataclasses import fields

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


def parse_key_values(prog: str, schema: type, argv: list[str]):
    """Merge ``key=value`` args into ``schema``'s defaults; exit with a clear message on an
    unknown key (and the closest known one), a wrong type, or a missing required value."""
    known = [f.name for f in fields(schema)]
    if any(a in ("-h", "--help") for a in argv):
        defaults = OmegaConf.to_yaml(OmegaConf.structured(schema))
        print(f"usage: {prog} key=value ...  ('???' = required)\n\n{defaults}")
        sys.exit(0)
    for arg in argv:
        key = arg.split("=", 1)[0].split(".", 1)[0]  # dict fields take dotted keys: decoding.beam=4
        if "=" not in arg or key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(known)})"
            sys.exit(f"{prog}: error: unknown argument '{arg}'{hint}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(argv))
        missing = [k for k in known if OmegaConf.is_missing(cfg, k)]
    except OmegaConfBaseException as e:
        sys.exit(f"{prog}: error: {e}")
    if missing:
        sys.exit(f"{prog}: error: missing required argument(s): {', '.join(m + '=...' for m in missing)}")
    return cfg
