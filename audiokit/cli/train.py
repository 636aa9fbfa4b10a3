"""audiokit-train: compose the Hydra config, build data, task and trainer, fit, export.

    audiokit-train experiment=cls/fsdd_cnn trainer=ddp trainer.devices=4
    audiokit-train experiment=cls/fsdd_cnn --cfg job      # print the composed config
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import hydra
import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from audiokit.data.audio import AudioError
from audiokit.data.datadir import DataDirError
from audiokit.inference.loading import MODEL_FILE
from audiokit.utils import run_info
from audiokit.utils.averaging import average_checkpoints, best_checkpoints
from audiokit.utils.checkpoint import AtomicCheckpointIO, find_resume_checkpoint
from audiokit.utils.config_check import ConfigKeyError, check_overrides

log = logging.getLogger("audiokit.train")
CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def _plain(node) -> dict | None:
    return OmegaConf.to_container(node, resolve=True) if node is not None else None


def build_task(cfg: DictConfig, task_kwargs: dict) -> pl.LightningModule:
    """The task gets its parts as plain dicts (saved in checkpoints) and builds them itself."""
    return instantiate(
        _plain(cfg.task), frontend=_plain(cfg.frontend), model=_plain(cfg.model),
        loss=_plain(cfg.loss), optim=_plain(cfg.optim), scheduler=_plain(cfg.scheduler) or None,
        **task_kwargs, _recursive_=False, _convert_="all",
    )


def build_trainer(cfg: DictConfig, exp_dir: Path) -> pl.Trainer:
    callbacks = [instantiate(c) for c in (cfg.callbacks or {}).values() if c]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values() if c]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                       plugins=[AtomicCheckpointIO()], default_root_dir=str(exp_dir))


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
        log.info("no best checkpoint (no validation?): exporting the final weights")
    cls = type(task)
    path = exp_dir / MODEL_FILE
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"task": f"{cls.__module__}.{cls.__qualname__}", "hparams": dict(task.hparams),
                "state_dict": state, "best_checkpoint": best, "averaged": averaged}, tmp)
    tmp.replace(path)
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
    exp_dir = Path(cfg.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    check_averaging(cfg)
    pl.seed_everything(cfg.seed, workers=True)
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
    ckpt = trainer.checkpoint_callback
    best = ckpt.best_model_score if ckpt is not None else None
    summary = {
        "wall_seconds": round(seconds, 1), "epochs": trainer.current_epoch,
        "global_step": trainer.global_step, "monitor": monitor,
        "best_score": round(float(best), 5) if best is not None else None,
        "best_checkpoint": ckpt.best_model_path if ckpt is not None else "",
        "num_parameters": sum(p.numel() for p in task.parameters()),
    }
    (exp_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except (DataDirError, AudioError) as e:  # bad input: the message says it all
        sys.exit(f"audiokit-train: error: {e}")


def main() -> None:
    try:
        check_overrides(CONF_DIR, "train", [a for a in sys.argv[1:] if "=" in a])
    except ConfigKeyError as e:
        sys.exit(f"audiokit-train: error: {e}")
    _hydra_main()


if __name__ == "__main__":
    main()
