"""audiokit-infer: run a trained experiment on any data dir.

    audiokit-infer exp_dir=E data_dir=D output_dir=O [device=cuda] [on_bad_audio=skip]
    audiokit-infer exp_dir=E data_dir=D output_dir=O decoding.mode=joint decoding.beam=10 \
        [lm_exp_dir=L decoding.lm_weight=0.3]                     # ASR search settings
    audiokit-infer exp_dir=E data_dir=D output_dir=O diarization.oracle_num_speakers=true

Writes Kaldi-style outputs in O (classification: O/utt2label; ASR: O/text and O/nbest;
separation: wav files + O/spk1.scp ..; enhancement: O/wav.scp; speaker: O/embeddings.npz and,
when D has a trials file, O/scores: ``enroll test score``, AS-normed with cohort_dir=C;
diarization: O/rttm, with ``diarization.*`` settings, see audiokit.inference.diarization).
``decoding.*`` overrides the search settings stored with an ASR model (its task.decoding).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

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
    decoding: dict = field(default_factory=dict)  # ASR: mode, beam, ctc_weight, lm_weight, ...
    lm_exp_dir: str | None = None  # ASR: an LM experiment for shallow fusion
    cohort_dir: str | None = None  # speaker: AS-norm the trial scores against these speakers
    chunk_seconds: float | None = None  # speaker: embed longer recordings in chunks, averaged;
                                        # separation: overlap-add chunk (default 8 s)
    diarization: dict = field(default_factory=dict)  # diarization: threshold, clustering, ...


def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("audiokit-infer", InferConfig, sys.argv[1:] if argv is None else argv)
    print(f"audiokit-infer: {cfg.exp_dir} on {cfg.data_dir} -> {cfg.output_dir}")
    task, train_cfg = load_task(cfg.exp_dir, cfg.device)
    options = {}
    if cfg.decoding or cfg.lm_exp_dir:  # only pipelines that search take these
        options = {"decoding": dict(cfg.decoding), "lm_exp_dir": cfg.lm_exp_dir}
    if cfg.cohort_dir:
        options["cohort_dir"] = cfg.cohort_dir
    if cfg.chunk_seconds:
        options["chunk_seconds"] = cfg.chunk_seconds
    if cfg.diarization:
        options["diarization"] = dict(cfg.diarization)
    pipeline = get_class(task.inference)(task, int(train_cfg.data.sample_rate), cfg.device,
                                         **options)
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
