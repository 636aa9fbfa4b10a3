"""What a config read back from a model file may build.

Trusted like code: the configs you write and compose yourself (``audiokit/conf``, your own
experiment YAML, command-line overrides). Their ``_target_`` may name anything, as any Python
you run may.

Not trusted: whatever comes inside a file someone else may have made — the ``model.pt`` of an
experiment dir you downloaded (``audiokit-infer``, ``lm_exp_dir``), a file given as
``task.init_checkpoint``, checkpoints to average or resume from, pre-trained encoders. Their
tensors are read with ``torch.load(weights_only=True)``, and the configs they hold (a task's
hyperparameters, whose ``_target_`` dicts the task instantiates) pass :func:`check_config`
before anything is built from them:

- every ``_target_`` names a class, not a function: a ``torch.nn.Module``, ``torch.optim``
  optimizer or LR scheduler defined in ``audiokit`` (or a package you trust, see below),
  ``torch.nn``, ``torch.optim`` or ``torchaudio``. Other classes are refused even from
  audiokit: a pipeline would call them as it calls a frontend, and e.g. an augmentation reads
  a wav.scp, whose ``cmd |`` entries are shell commands. The name is checked as text before
  anything is imported, and the class it resolves to is checked again by where it is
  defined, so ``audiokit.some_module.np.load`` is refused too;
- hydra's other special keys hold what hydra expects (``_args_`` a list, walked like the
  rest; ``_partial_`` and ``_recursive_`` booleans; ``_convert_`` one of its modes);
- no string holds an OmegaConf interpolation ``${...}``: instantiate resolves them, and
  ``${oc.create:...}`` builds a config this walk never saw.

Your own classes: list their top-level packages in ``AUDIOKIT_TRUSTED_PACKAGES`` (comma
separated) or call :func:`allow_package`; their modules, optimizers and schedulers are then
admitted as audiokit's are.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

TRUSTED_PACKAGES_ENV = "AUDIOKIT_TRUSTED_PACKAGES"
# Admitted besides the trusted packages (for their modules, optimizers and schedulers only).
TORCH_PACKAGES = ("torch.nn", "torch.optim", "torchaudio")
CONVERT_MODES = ("none", "partial", "object", "all")
ALLOWED = ("torch modules, optimizers and LR schedulers from audiokit.*, torch.nn, torch.optim "
           "or torchaudio")

_extra_packages: list[str] = []


class UntrustedConfigError(ValueError):
    """A config read from a file names something it may not build; the message says what."""


def allow_package(name: str) -> None:
    """Admit the modules, optimizers and schedulers of package ``name`` (e.g. ``"mylab"``)."""
    if not name or not name.replace(".", "").replace("_", "").isalnum():
        raise ValueError(f"allow_package: {name!r} is not a package name")
    if name not in _extra_packages:
        _extra_packages.append(name)


def trusted_packages() -> tuple[str, ...]:
    """``audiokit``, then packages added by :func:`allow_package` or the environment."""
    env = [p.strip() for p in os.environ.get(TRUSTED_PACKAGES_ENV, "").split(",") if p.strip()]
    return ("audiokit", *_extra_packages, *env)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _torch_bases() -> tuple[type, ...]:
    import torch

    return (torch.nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)


def _refuse(where: str, target: Any, why: str = "") -> UntrustedConfigError:
    extra = [p for p in trusted_packages() if p != "audiokit"]
    own = f"; also {', '.join(extra)}" if extra else ""
    return UntrustedConfigError(
        f"{where} = {target!r} is not allowed{why} (allowed: {ALLOWED}{own}; to trust classes "
        f"of your own package, set {TRUSTED_PACKAGES_ENV}=<package>)")


def check_target(target: Any, where: str = "_target_") -> type:
    """The class ``target`` names, if the policy admits it; else :class:`UntrustedConfigError`
    naming ``where`` (the key path) and the target."""
    if not isinstance(target, str):
        raise _refuse(where, target, ": a target must be a dotted class name")
    trusted = trusted_packages()
    # Checked as text first: importing a module runs its code.
    if not _within(target, trusted + TORCH_PACKAGES):
        raise _refuse(where, target)
    from hydra._internal.utils import _locate

    try:
        obj = _locate(target)
    except Exception:  # ImportError, AttributeError, ...: a name that does not exist
        raise _refuse(where, target, ": no class of that name can be imported here") from None
    if not inspect.isclass(obj):
        raise _refuse(where, target, f": it is a {type(obj).__name__}, not a class")
    module = getattr(obj, "__module__", "") or ""
    if not _within(module, trusted + TORCH_PACKAGES):
        raise _refuse(where, target, f": it resolves to {module}.{obj.__qualname__}")
    if not issubclass(obj, _torch_bases()):
        # Other classes get called by code that expects a module (a frontend, a model): an
        # augmentation that reads a wav.scp, whose 'cmd |' entries are shell commands, would
        # run them. Modules only compute on the tensors they are given.
        raise _refuse(where, target, ": it is not a torch module, optimizer or LR scheduler")
    return obj


def check_pipeline(name: Any, where: str = "inference") -> type:
    """The inference pipeline class a task names (``audiokit-infer`` builds it with the task):
    only a class defined in ``audiokit.inference``. A task that takes the name as a
    hyperparameter (the GAN task) carries it in the model file, so it is checked there too."""
    if not (isinstance(name, str) and name.startswith("audiokit.inference.")):
        raise UntrustedConfigError(f"{where} = {name!r} is not allowed (an inference pipeline "
                                   "must be a class of audiokit.inference)")
    from hydra._internal.utils import _locate

    try:
        obj = _locate(name)
    except Exception as e:
        raise UntrustedConfigError(f"{where} = {name!r}: it cannot be found ({e})") from None
    if not (inspect.isclass(obj) and _within(obj.__module__, ("audiokit.inference",))):
        raise UntrustedConfigError(f"{where} = {name!r} is not a class of audiokit.inference")
    return obj


def _check_special(key: str, value: Any, where: str) -> None:
    if key in ("_partial_", "_recursive_") and not isinstance(value, bool):
        raise UntrustedConfigError(f"{where} = {value!r}: must be true or false")
    if key == "_convert_" and str(value).lower() not in CONVERT_MODES:
        raise UntrustedConfigError(f"{where} = {value!r}: must be one of {CONVERT_MODES}")
    if key == "_args_" and not isinstance(value, list | tuple):
        raise UntrustedConfigError(f"{where}: must be a list of arguments")


def check_config(node: Any, where: str = "hparams") -> None:
    """Walk ``node`` (dicts, lists, tuples, plain values) and refuse anything the policy does
    not admit; the error names the key path, e.g. ``hparams.frontend._target_``."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}"
            if isinstance(key, str) and "${" in key:
                raise UntrustedConfigError(f"{where}: key {key!r} holds an interpolation")
            if key == "_target_":
                check_target(value, path)
                continue
            if key in ("_partial_", "_recursive_", "_convert_", "_args_"):
                _check_special(key, value, path)
            check_config(value, path)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            check_config(value, f"{where}[{i}]")
    elif isinstance(node, str) and "${" in node:
        raise UntrustedConfigError(
            f"{where} = {node!r}: holds an OmegaConf interpolation; a saved config must hold "
            "plain values (instantiate would resolve it, and ${oc.create:...} builds configs)")


def torch_load_weights_only(path: Any, **kwargs: Any) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``; a file that would need
    pickle to run code (or is not a torch file) is an error naming the file and, when torch
    says, the global it would have called."""
    import pickle
    import re

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, **kwargs)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))
        what = (f"it would call {found.group(1)} while loading" if found else
                "it is not a torch file of tensors and plain data")
        raise UntrustedConfigError(
            f"{path}: refused by torch.load(weights_only=True): {what}") from None
