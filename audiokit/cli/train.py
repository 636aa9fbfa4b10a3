"""audiokit-train: compose the Hydra config, build data, task and trainer, fit, export.

    audiokit-train experiment=cls/fsdd_cnn trainer=ddp trainer.devices=4
    audiokit-train experiment=cls/fsdd_cnn --cfg job      # print the composed config
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from audiokit.utils.config_check import check_overrides, group_options, require_values
from audiokit.utils.errors import cli_errors, debug, user_errors

# torch and Lightning are imported where they are used, so that --help and the up-front
# config checks answer at once.
if TYPE_CHECKING:
    import lightning.pytorch as pl

log = logging.getLogger("audiokit.train")
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
PROG = "audiokit-train"

USAGE = """\
usage: audiokit-train experiment=NAME [key=value ...] [--cfg job]

Composes the experiment's config (audiokit/conf), trains, and writes the exp dir
(exp/<name>, or exp_dir=...): model.pt (the exported model for audiokit-infer), config.yaml,
checkpoints/, train_summary.json, run_info.json.

examples:
  audiokit-train experiment=cls/fsdd_cnn paths.data_root=data
  audiokit-train experiment=cls/fsdd_cnn trainer.max_epochs=5 exp_dir=exp/try1
  audiokit-train experiment=cls/fsdd_cnn debug=fast_dev_run      # one batch: does it run?
  audiokit-train experiment=sep/fsdd_convtasnet trainer=gpu data.num_workers=4
  audiokit-train experiment=cls/fsdd_cnn --cfg job                # print the composed config

Any config value can be set as key=value (a misspelt key or a wrong type is named);
groups: data, frontend, model, loss, task, optim, scheduler, trainer, logger, callbacks,
launcher, debug (e.g. trainer=ddp, logger=tensorboard). resume=auto (default) continues from
the newest checkpoint in the exp dir. Set AUDIOKIT_DEBUG=1 to see tracebacks;
--hydra-help for Hydra's own options.
"""


def _describe(path: Path) -> str:
    """The first comment line of an experiment file (what it trains), cut to fit."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and "@package" not in line and line.strip("# "):
            text = line.strip("# ").strip()
            return text if len(text) <= 70 else text[:67] + "..."
    return ""


def usage() -> str:
    lines = [USAGE, "experiments:"]
    for name in group_options(CONF_DIR, "experiment"):
        lines.append(f"  {name:28s} {_describe(Path(CONF_DIR) / 'experiment' / f'{name}.yaml')}")
    return "\n".join(lines)


def _plain(node) -> dict | None:
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def build_task(cfg: DictConfig, task_kwargs: dict) -> pl.LightningModule:
    """The task gets its parts as plain dicts (saved in checkpoints) and builds them itself."""
    return instantiate(
        _plain(cfg.task), frontend=_plain(cfg.frontend), model=_plain(cfg.model),
        loss=_plain(cfg.loss), optim=_plain(cfg.optim), scheduler=_plain(cfg.scheduler) or None,
        **task_kwargs, _recursive_=False, _convert_="all",
    )


class _NoAdverts(logging.Filter):
    """Drops Lightning's advertising tips ("Tip: ... try installing litlogger") from its log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_NoAdverts())
# Lightning's own call of a deprecated torch API, nothing a user can act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")
# GAN tasks optimise manually; their checkpoints are meant to hold the state after the step
# (exact resume restores the batch counter with it), so Lightning's 20-line advice misleads.
warnings.filterwarnings("ignore", message=r"Using ModelCheckpoint with manual optimization")


def _without_version(bar) -> None:
    """The progress bar shows the logger's version as "v_num": always 0 in our exp dirs."""
    get_metrics = bar.get_metrics
    bar.get_metrics = lambda trainer, module: {
        k: v for k, v in get_metrics(trainer, module).items() if k != "v_num"}


def build_trainer(cfg: DictConfig, exp_dir: Path) -> pl.Trainer:
    import lightning.pytorch as pl

    from audiokit.callbacks import ExactResume
    from audiokit.utils.checkpoint import AtomicCheckpointIO

    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c]
    callbacks.append(ExactResume())  # a resumed run goes on exactly as the killed one would have
    bars = [c for c in callbacks if isinstance(c, pl.callbacks.ProgressBar)]
    for bar in bars:
        _without_version(bar)
    # callbacks.progress=null means no bar: without this Lightning adds its default one
    switch = {} if bars else {"enable_progress_bar": False}
    loggers = [instantiate(c) for c in (cfg.logger or {}).values() if c]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                       plugins=[AtomicCheckpointIO()], default_root_dir=str(exp_dir), **switch)


def check_averaging(cfg: DictConfig) -> None:
    """``average_checkpoints=N`` needs the N best checkpoints on disk: say so before training."""
    n = cfg.average_checkpoints
    if n < 1:
        raise SystemExit(f"audiokit-train: error: average_checkpoints={n}: must be 1 or more")
    if n == 1:
        return
    ckpt = cfg.callbacks.get("checkpoint") if cfg.callbacks else None
    if not ckpt or ckpt.monitor is None:
        raise SystemExit(f"audiokit-train: error: average_checkpoints={n} needs the "
                         "callbacks.checkpoint ModelCheckpoint with a monitor")
    if ckpt.save_top_k != -1 and n > ckpt.save_top_k:
        raise SystemExit(f"audiokit-train: error: average_checkpoints={n} but "
                         f"callbacks.checkpoint.save_top_k={ckpt.save_top_k} keeps only "
                         f"{ckpt.save_top_k}; set callbacks.checkpoint.save_top_k={n} or more")


def export_model(trainer: pl.Trainer, task: pl.LightningModule, exp_dir: Path,
                 average: int = 1) -> Path:
    """Write ``model.pt``: task class, hyperparameters and the best checkpoint's weights, or
    the mean weights of the ``average`` best checkpoints (listed under "averaged").

    Loadable with ``torch.load(weights_only=True)``: plain dicts and tensors only.
    """
    import torch

    from audiokit.inference.loading import MODEL_FILE
    from audiokit.utils.averaging import average_checkpoints, best_checkpoints
    from audiokit.utils.checkpoint import atomic_save

    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_path if ckpt else ""
    averaged: list[str] = []
    if best and average > 1:
        averaged = [str(p) for p in best_checkpoints(ckpt.dirpath, average, ckpt.monitor, ckpt.mode)]
        state = average_checkpoints(averaged)
        log.info("exporting the average of the %d best checkpoints by %s: %s",
                 len(averaged), ckpt.monitor, ", ".join(averaged))
    elif best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        log.info("exporting weights of the best checkpoint %s", best)
    else:
        state = {k: v.cpu() for k, v in task.state_dict().items()}
        why = ("fast_dev_run writes no checkpoints" if getattr(trainer, "fast_dev_run", False)
               else "no best checkpoint (no validation?)")
        log.info("%s: exporting the final weights", why)
    cls = type(task)
    path = exp_dir / MODEL_FILE
    # a full disk keeps any earlier model.pt and is one CheckpointWriteError, no .tmp left
    atomic_save({"task": f"{cls.__module__}.{cls.__qualname__}", "hparams": dict(task.hparams),
                 "state_dict": state, "best_checkpoint": best, "averaged": averaged}, path)
    return path


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def train(cfg: DictConfig) -> Path:
    import lightning.pytorch as pl

    from audiokit.utils import run_info
    from audiokit.utils.checkpoint import find_resume_checkpoint

    exp_dir = Path(cfg.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    check_averaging(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    nothing_saved = not any((exp_dir / "checkpoints").glob("*.ckpt")) and not any(
        exp_dir.glob("hpc_ckpt_*.ckpt"))
    if str(cfg.resume) == "auto" and nothing_saved:  # a fresh exp dir: nothing to warn about
        ckpt_path = None
    else:
        ckpt_path = find_resume_checkpoint(exp_dir / "checkpoints", str(cfg.resume), exp_dir)
    if pl.utilities.rank_zero_only.rank == 0:
        config_file = exp_dir / "config.yaml"
        resolved = OmegaConf.to_container(cfg, resolve=True)
        if ckpt_path and config_file.is_file():
            changed = changed_keys(OmegaConf.to_container(OmegaConf.load(config_file)), resolved)
            if changed:
                log.warning("resuming %s with a changed config (%s); use a new exp_dir or "
                            "resume=never to start over", exp_dir, ", ".join(changed))
        config_file.write_text(OmegaConf.to_yaml(resolved))
        run_info.write(exp_dir / "run_info.json")
    datamodule = instantiate(cfg.data)
    task = build_task(cfg, datamodule.task_kwargs())
    trainer = build_trainer(cfg, exp_dir)
    start = time.monotonic()
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    if trainer.interrupted:
        raise SystemExit("training was interrupted; run again with resume=auto to continue")
    if trainer.is_global_zero:
        path = export_model(trainer, task, exp_dir, cfg.average_checkpoints)
        write_summary(trainer, task, exp_dir, time.monotonic() - start, cfg.monitor.metric)
        print(f"audiokit-train: done. exp dir: {exp_dir} (model: {path})")
    return exp_dir


def write_summary(trainer: pl.Trainer, task: pl.LightningModule, exp_dir: Path,
                  seconds: float, monitor: str) -> None:
    from audiokit.utils.stop_reason import max_time_stop

    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_score if ckpt is not None else None
    cut_short = max_time_stop(trainer)  # the guard, not the epoch/step bound, ended the run
    if cut_short:
        log.warning("%s: fewer epochs/steps than the config asks for, so the result depends on "
                    "this machine's speed", cut_short)
    summary = {
        "wall_seconds": round(seconds, 1), "epochs": trainer.current_epoch,
        "global_step": trainer.global_step, "monitor": monitor,
        "best_score": round(float(best), 5) if best is not None else None,
        "best_checkpoint": ckpt.best_model_path if ckpt is not None else "",
        "num_parameters": sum(p.numel() for p in task.parameters()),
        "stopped_by_max_time": cut_short,
    }
    (exp_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


# Whether the exp dir did not exist before this run (Hydra creates it before train() runs).
_NEW_EXP_DIR: list[Path] = []


def _remove_unfinished(exp_dir: Path) -> None:
    """A run that failed before its first checkpoint leaves no exp dir behind when it made
    that dir itself: a half-made one would look like an experiment."""
    from audiokit.inference.loading import MODEL_FILE

    if exp_dir in _NEW_EXP_DIR and not (exp_dir / MODEL_FILE).exists() and not any(
            (exp_dir / "checkpoints").glob("*.ckpt")):
        shutil.rmtree(exp_dir, ignore_errors=True)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    with user_errors(PROG):  # Hydra would print its own report of the exception
        try:
            train(cfg)
        except Exception:
            _remove_unfinished(Path(cfg.exp_dir))
            raise


@cli_errors(PROG)
def main() -> None:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(usage())
        return
    if debug():  # Hydra cuts its own report of an exception short unless told
        os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    cfg = check_overrides(CONF_DIR, "train",
                          [a for a in sys.argv[1:] if "=" in a or a.startswith("~")])
    if cfg is not None:
        require_values(cfg)
    if cfg is not None and not Path(str(cfg.exp_dir)).exists():
        _NEW_EXP_DIR.append(Path(str(cfg.exp_dir)))
    _hydra_main()


if __name__ == "__main__":
    main()
