"""Process-wide settings that importing audiokit makes (audiokit/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

PRINT_CAPACITY = "import audiokit, os; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"


def _capacity(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-c", PRINT_CAPACITY], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def test_onednn_kernel_cache_is_capped_unless_the_user_sets_it():
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert _capacity(env) == "64"  # bounded: speech batches change shape every step
    assert _capacity({**env, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}) == "1024"
