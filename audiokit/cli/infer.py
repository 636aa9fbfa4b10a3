"""audiokit-infer: run a trained experiment on any data dir.

    audiokit-infer exp_dir=E data_dir=D output_dir=O [device=cuda] [on_bad_audio=skip]

Writes Kaldi-style outputs in O (classification: O/utt2label).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from hydra.utils import get_class

from audiokit.inference.loading import load_task
from audiokit.utils.cli_args import parse_key_values


@dataclass
class InferConfig:
    exp_dir: str = "???"
    data_dir: str = "???"
    output_dir: str = "???"
    device: str = "cpu"
    max_batch_seconds: float = 120.0
    num_workers: int = 0
    on_bad_audio: str = "error"   # error | skip (skipped utterances go to output_dir/skipped)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("audiokit-infer", InferConfig, sys.argv[1:] if argv is None else argv)
    print(f"audiokit-infer: {cfg.exp_dir} on {cfg.data_dir} -> {cfg.output_dir}")
    task, train_cfg = load_task(cfg.exp_dir, cfg.device)
    pipeline = get_class(task.inference)(task, int(train_cfg.data.sample_rate), cfg.device)
    skipped = pipeline.process_data_dir(
        cfg.data_dir, cfg.output_dir, max_batch_seconds=cfg.max_batch_seconds,
        num_workers=cfg.num_workers, on_bad_audio=cfg.on_bad_audio,
        downmix=bool(train_cfg.data.get("downmix", False)),
    )
    if skipped:
        print(f"audiokit-infer: skipped {len(skipped)} utterance(s) with bad audio "
              f"(listed in {cfg.output_dir}/skipped)")
    print(f"audiokit-infer: wrote {cfg.output_dir}")


if __name__ == "__main__":
    main()
