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

import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path

from audiokit.utils.cli_args import parse_key_values
from audiokit.utils.errors import UserError, cli_errors

PROG = "audiokit-infer"

HELP = """\
usage: audiokit-infer exp_dir=E data_dir=D output_dir=O [key=value ...]

Runs the trained experiment in E (E/model.pt, E/config.yaml, written by audiokit-train) on
every utterance of the data dir D (wav.scp; segments optional) and writes into O:

  experiment kind            files written in O
  classification (cls)       utt2label, utt2posterior
  ASR (asr)                  text, nbest (Whisper: text, lang)
  separation (sep)           wav/spkK/<utt>.wav, spk1.scp .. spkN.scp
  enhancement (enh)          wav/spk1/<utt>.wav, wav.scp
  speaker (sv)               embeddings.npz; scores when D has a trials file
  diarization (diar)         rttm (no_speech lists recordings without speech)
  codec (codec)              codes/<utt>.npy, codes.scp, wav/<utt>.wav, wav.scp (decoded);
                             codec.mode=decode: wav.scp from D/codes.scp (a token data dir)
  music LM (music)           nll, nll.json (D: events or midi.scp); with music.num_samples=N:
                             samples/<id>.mid, midi.scp, events (audiokit.inference.music)
  TTS (tts)                  wav/<utt>.wav, wav.scp, attention_failures, rtf.json (D needs
                             only a text file; vocoder_exp_dir=V, else Griffin-Lim)
  codec LM (codec_lm)        codes/<utt>.npy, codes.scp, hit_max (cut at codec_lm.max_frames);
                             wav.scp with codec_lm.codec_exp_dir=C (audiokit.inference.codec_lm);
                             D may be only a text file of captions: codec_lm.seconds=S fixes
                             the length, unknown_words lists words taken as <unk>
  text-to-music diffusion    wav/<utt>.wav, wav.scp, generation.json, unknown_words (D needs
  (diffusion)                only a text file of captions; diffusion.steps, .eta, .guidance,
                             .seed, .seconds, .sampler; vocoder_exp_dir=V, else Griffin-Lim)
  any, with on_bad_audio=skip: skipped (the utterances left out, and why)

a run that stops part way (an error, a kill, a full disk) leaves O/infer_journal.jsonl: run
the same command again and it continues where it stopped ("continuing in O: 900 of 1000
utterances already done"), each utterance computed once, the outputs those of one
uninterrupted run. Per-utterance files (wavs, codes) are written whole or not at all. A
partial run of another exp_dir, model.pt, data dir or setting is refused, naming what differs:
overwrite=true starts over (or use a fresh output_dir); device, num_workers, on_bad_audio
and max_batch_seconds may change between the runs. A finished O (no journal left) is computed
anew, as ESPnet's and NeMo's inference scripts do.
  every kind continues; redone in the rerun: speaker scores (from the embeddings kept),
  codec LM decoding to wav (the generated codes are kept), music LM samples (one seeded
  batch; the NLL of each piece is kept)

examples:
  audiokit-infer exp_dir=exp/fsdd_cnn data_dir=data/test output_dir=exp/fsdd_cnn/infer/test
  audiokit-infer exp_dir=exp/asr data_dir=data/test output_dir=out decoding.mode=ctc_greedy
  audiokit-infer exp_dir=exp/asr data_dir=data/test output_dir=out lm_exp_dir=exp/lm \\
      decoding.lm_weight=0.3
  audiokit-infer exp_dir=exp/sv data_dir=data/test output_dir=out cohort_dir=data/train
  audiokit-infer exp_dir=exp/codec data_dir=data/test output_dir=tok codec.bandwidth=3
  audiokit-infer exp_dir=exp/codec data_dir=tok output_dir=out codec.mode=decode

options by kind: decoding.*, lm_exp_dir (ASR); cohort_dir (speaker); chunk_seconds (speaker,
separation); diarization.* (diarization); vocoder_exp_dir (TTS, diffusion); tts.* (TTS);
codec.mode, codec.bandwidth (kbps) or codec.n_q (codec); music.num_samples, music.temperature,
music.top_k, music.prompt_events, music.max_events, music.seed (music);
codec_lm.* (codec LM); diffusion.* (diffusion); overwrite=true (any: start over instead of continuing a partial
run). Set AUDIOKIT_DEBUG=1 to see tracebacks.
"""


@dataclass
class InferConfig:
    exp_dir: str = "???"
    data_dir: str = "???"
    output_dir: str = "???"
    device: str = "cpu"
    max_batch_seconds: float = 120.0
    num_workers: int = 0
    on_bad_audio: str = "error"   # error | skip (skipped utterances go to output_dir/skipped)
    downmix: bool | None = None   # average multi-channel audio; default: as in training
    decoding: dict = field(default_factory=dict)  # ASR: mode, beam, ctc_weight, lm_weight, ...
    lm_exp_dir: str | None = None  # ASR: an LM experiment for shallow fusion
    cohort_dir: str | None = None  # speaker: AS-norm the trial scores against these speakers
    chunk_seconds: float | None = None  # speaker: embed longer recordings in chunks, averaged;
                                        # separation: overlap-add chunk (default 8 s)
    diarization: dict = field(default_factory=dict)  # diarization: threshold, clustering, ...
    codec: dict = field(default_factory=dict)  # codec: mode (encode|decode), bandwidth, n_q
    vocoder_exp_dir: str | None = None  # TTS, diffusion: the vocoder experiment (default: Griffin-Lim)
    tts: dict = field(default_factory=dict)  # TTS: max_symbols, pause_seconds, on_bad_text, seed
    music: dict = field(default_factory=dict)  # music: num_samples, temperature, top_k, ...
    codec_lm: dict = field(default_factory=dict)  # codec LM: codec_exp_dir, nar_exp_dir, ...
    diffusion: dict = field(default_factory=dict)  # diffusion: steps, eta, guidance, seed, seconds
    overwrite: bool = False  # a partial run in output_dir: start over instead of continuing


# What each inference pipeline is, for messages ("this experiment is a classifier").
KINDS = {"AudioClassifier": "a classifier", "Speech2Text": "an ASR model",
         "Transcriber": "a Whisper ASR model", "SpeakerEmbedder": "a speaker-embedding model",
         "Separator": "a separation/enhancement model", "EENDDiarizer": "a diarization model",
         "PipelineDiarizer": "a diarization pipeline", "Codec": "a neural codec", "Text2Speech": "a TTS model",
         "MusicGenerator": "a music LM", "CodecLMGenerator": "a codec LM",
         "Text2Music": "a text-to-music diffusion model"}
# Which option belongs to which experiments, for the same messages.
OPTION_OWNERS = {"decoding": "ASR", "lm_exp_dir": "ASR", "cohort_dir": "speaker",
                 "chunk_seconds": "speaker and separation", "diarization": "diarization",
                 "codec": "codec", "vocoder_exp_dir": "TTS and diffusion", "tts": "TTS",
                 "music": "music", "codec_lm": "codec LM", "diffusion": "diffusion"}


def check_exp_dir(exp_dir: str) -> None:
    """Name what is missing in an experiment dir before anything is loaded."""
    path = Path(exp_dir)
    if not path.exists():
        raise UserError(f"{exp_dir}: no such experiment dir")
    if not path.is_dir():
        raise UserError(f"{exp_dir}: not a directory (exp_dir is the folder audiokit-train wrote)")
    if not (path / "model.pt").is_file():
        why = ("training has not finished or failed: it has checkpoints but no exported model"
               if (path / "checkpoints").is_dir() else "not a finished experiment dir")
        raise UserError(f"{exp_dir}: no model.pt ({why})")
    if not (path / "config.yaml").is_file():
        raise UserError(f"{exp_dir}: no config.yaml (not written by audiokit-train?)")


def check_data_dir(data_dir: str) -> None:
    path = Path(data_dir)
    if not path.exists():
        raise UserError(f"{data_dir}: no such data dir")
    if not any((path / f).is_file() for f in ("wav.scp", "codes.scp", "text", "events", "midi.scp")):
        raise UserError(f"{data_dir}: not a data dir (no wav.scp)")


def check_device(device: str) -> None:
    """``device=gpu`` or ``device=cuda`` without a GPU: say so before loading anything."""
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UserError(f"device={device}: not a device (cpu, cuda, cuda:1, mps)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={device}: no CUDA GPU is available here (use device=cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={device}: MPS is not available here (use device=cpu)")


def pipeline_options(cfg, pipeline_cls: type) -> dict:
    """The options given for this pipeline; an option it does not take is an error naming
    the experiments it is for."""
    options = {"decoding": dict(cfg.decoding), "lm_exp_dir": cfg.lm_exp_dir,
               "cohort_dir": cfg.cohort_dir, "chunk_seconds": cfg.chunk_seconds,
               "diarization": dict(cfg.diarization), "codec": dict(cfg.codec),
               "vocoder_exp_dir": cfg.vocoder_exp_dir, "tts": dict(cfg.tts),
               "music": dict(cfg.music), "codec_lm": dict(cfg.codec_lm),
               "diffusion": dict(cfg.diffusion)}
    given = {k: v for k, v in options.items() if v}
    accepted = inspect.signature(pipeline_cls.__init__).parameters
    kind = KINDS.get(pipeline_cls.__name__, pipeline_cls.__name__)
    for key in given:
        if key not in accepted:
            shown = f"{key}.*" if isinstance(given[key], dict) else key
            raise UserError(f"{shown} applies to {OPTION_OWNERS[key]} experiments; this "
                            f"experiment is {kind}")
    if "decoding" in given or "lm_exp_dir" in given:  # ASR pipelines take both together
        given.setdefault("decoding", {})
        given.setdefault("lm_exp_dir", None)
    return given


def load_experiment(exp_dir: str, device: str):
    """:func:`~audiokit.inference.loading.load_task`, with a model file or config that cannot
    be read named as such (torch and YAML say "Invalid argument" or print a parser trace)."""
    import yaml

    from audiokit.inference.loading import load_task

    try:
        return load_task(exp_dir, device)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UserError(f"{exp_dir}/config.yaml: not valid YAML{line}: "
                        f"{getattr(e, 'problem', None) or e}") from None
    except (OSError, RuntimeError, EOFError) as e:
        if type(e).__module__.startswith("audiokit."):  # already names what is wrong
            raise
        raise UserError(f"{exp_dir}/model.pt: cannot be loaded ({e}); a copy cut short, or "
                        "not a model exported by audiokit-train? copy or export it again") from None


def open_progress(cfg, downmix: bool):
    """The journal of ``output_dir`` (:mod:`audiokit.inference.progress`): a partial run of
    the same experiment, data and settings is continued, one of anything else refused."""
    from omegaconf import OmegaConf

    from audiokit.inference.progress import InferenceProgress, fingerprint

    settings = {**OmegaConf.to_container(cfg), "downmix": downmix}
    run = fingerprint(cfg.exp_dir, cfg.data_dir, settings)
    return InferenceProgress(cfg.output_dir, run, overwrite=cfg.overwrite)


@cli_errors(PROG)
def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values(PROG, InferConfig, sys.argv[1:] if argv is None else argv, help=HELP)
    check_exp_dir(cfg.exp_dir)
    check_data_dir(cfg.data_dir)
    check_device(cfg.device)
    from audiokit.utils.trusted_config import check_pipeline

    print(f"audiokit-infer: {cfg.exp_dir} on {cfg.data_dir} -> {cfg.output_dir}")
    task, train_cfg = load_experiment(cfg.exp_dir, cfg.device)
    if not getattr(task, "inference", ""):
        raise UserError(f"{cfg.exp_dir}: a {type(task).__name__} experiment has no inference "
                        "pipeline of its own (a language model is used as lm_exp_dir= of an "
                        "ASR experiment)")
    pipeline_cls = check_pipeline(task.inference, f"{cfg.exp_dir}: the task's inference")
    options = pipeline_options(cfg, pipeline_cls)
    # symbolic music data has no sample rate
    pipeline = pipeline_cls(task, int(train_cfg.data.get("sample_rate") or 0), cfg.device, **options)
    downmix = cfg.downmix if cfg.downmix is not None else bool(train_cfg.data.get("downmix", False))
    resumable = {}
    if "progress" in inspect.signature(pipeline.process_data_dir).parameters:
        resumable["progress"] = open_progress(cfg, downmix)
    skipped = pipeline.process_data_dir(
        cfg.data_dir, cfg.output_dir, max_batch_seconds=cfg.max_batch_seconds,
        num_workers=cfg.num_workers, on_bad_audio=cfg.on_bad_audio, downmix=downmix, **resumable,
    )
    if skipped:
        print(f"audiokit-infer: skipped {len(skipped)} utterance(s) with bad audio "
              f"(listed in {cfg.output_dir}/skipped)")
    print(f"audiokit-infer: wrote {cfg.output_dir}")


if __name__ == "__main__":
    main()
