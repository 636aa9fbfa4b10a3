"""One error path for every entry point: a user's mistake is one line on stderr, not a traceback.

    @cli_errors("audiokit-infer")
    def main(argv=None): ...

An error the user can fix (a bad data dir, unreadable audio, a missing file, a bad option,
anything raised as :class:`UserError` or defined in the ``audiokit`` package) becomes
``audiokit-infer: error: <message>`` on stderr and exit status 1. ``AUDIOKIT_DEBUG=1`` lets
the traceback through. Anything else is a bug in audiokit and keeps its traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager


class UserError(ValueError):
    """A problem with what the user gave (file, option, data); the message says what to fix."""


# Exceptions of the standard library that, raised from audiokit's own checks, mean bad input.
# ValueError covers DataDirError, ConfigKeyError, UserError and the option checks of the
# pipelines; OSError covers missing files and permissions.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, UnicodeError)


# Raised by Hydra and Lightning for a config that cannot work (a class given wrong arguments,
# trainer.devices=4 on a machine with one GPU): the user's to fix, named by type so that
# this module imports neither.
CONFIG_ERRORS = ("InstantiationException", "MisconfigurationException")


def debug() -> bool:
    return os.environ.get("AUDIOKIT_DEBUG", "").lower() not in ("", "0", "false", "no")


def unwrap(e: BaseException) -> BaseException:
    """The error inside Hydra's InstantiationException (a data module's DataDirError...)."""
    while type(e).__name__ == "InstantiationException" and e.__cause__ is not None:
        e = e.__cause__
    return e


def is_user_error(e: BaseException) -> bool:
    """Ours (defined in audiokit: AudioError, RttmError, ...) or bad input by its type; a
    config that instantiates a class with wrong arguments is the user's too."""
    if type(e).__name__ in CONFIG_ERRORS or type(e).__module__.startswith("audiokit."):
        return True
    return isinstance(e, USER_ERRORS)


def message(e: BaseException) -> str:
    """The one line (or the few lines of a listing) to print for ``e``."""
    if isinstance(e, FileNotFoundError) and e.filename and not str(e).startswith(str(e.filename)):
        return f"{e.filename}: no such file or directory"
    text = str(e).strip() or type(e).__name__
    if type(e).__name__ == "InstantiationException":  # "Error in call to target ...\nfull_key: x"
        text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
    return text


@contextmanager
def user_errors(prog: str):
    """Turn a user error raised inside into ``prog: error: ...`` and exit 1."""
    try:
        yield
    except KeyboardInterrupt:
        if debug():
            raise
        sys.stderr.write(f"{prog}: interrupted\n")
        raise SystemExit(130) from None
    except Exception as e:
        if debug() or not is_user_error(unwrap(e)):
            raise
        # SystemExit with a text: Python prints it on stderr and exits with status 1
        raise SystemExit(f"{prog}: error: {message(unwrap(e))}") from None


def cli_errors(prog: str) -> Callable:
    """Decorator form of :func:`user_errors` for a CLI ``main``."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with user_errors(prog):
                return fn(*args, **kwargs)
        return inner
    return wrap
