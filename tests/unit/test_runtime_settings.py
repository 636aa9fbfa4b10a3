"""Process-wide settings that importing audiokit makes (audiokit/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Both caches are keyed by input shape; speech batches change shape every step.
CACHE_DEFAULTS = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64", "LRU_CACHE_CAPACITY": "16"}


def _value_after_import(name: str, env: dict[str, str]) -> str:
    code = f"import audiokit, os; print(os.environ[{name!r}])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


@pytest.mark.parametrize(("name", "default"), CACHE_DEFAULTS.items())
def test_shape_keyed_kernel_caches_are_capped_unless_the_user_sets_them(name, default):
    env = {k: v for k, v in os.environ.items() if k != name}
    assert _value_after_import(name, env) == default
    assert _value_after_import(name, {**env, name: "1024"}) == "1024"
