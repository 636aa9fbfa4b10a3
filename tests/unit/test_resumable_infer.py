"""audiokit-infer that fails part way and is run again: it continues, and the outputs equal an
uninterrupted run's, every utterance computed exactly once; atomic files; refused mixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from omegaconf import OmegaConf

from audiokit.cli.infer import main
from audiokit.inference.progress import JOURNAL, InferenceProgress, ProgressMismatch, atomic_file

pytestmark = pytest.mark.usefixtures("one_thread")
RATE = 8000


class Stop(RuntimeError):
    """The failure a test injects part way through a run."""


def save_exp_dir(task, path: Path) -> Path:
    """An exp dir as audiokit-train exports one (model.pt + config.yaml)."""
    cls = type(task)
    path.mkdir(parents=True)
    torch.save({"task": f"{cls.__module__}.{cls.__qualname__}", "hparams": dict(task.hparams),
                "state_dict": task.state_dict(), "best_checkpoint": "", "averaged": []},
               path / "model.pt")
    (path / "config.yaml").write_text(OmegaConf.to_yaml({"data": {"sample_rate": RATE}}))
    return path


def classifier_exp(path: Path, seed: int = 0) -> Path:
    from audiokit.tasks.classification import ClassificationTask

    torch.manual_seed(seed)
    task = ClassificationTask(
        labels=["a", "b", "c"],
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": RATE, "n_mels": 16},
        model={"_target_": "audiokit.models.classification.ResNetClassifier",
               "channels": [4], "blocks": [1]},
        loss={"_target_": "torch.nn.CrossEntropyLoss"},
        optim={"_target_": "torch.optim.Adam", "lr": 1e-3})
    return save_exp_dir(task, path)


def audio_dir(path: Path, n: int = 9, bad: bool = False) -> Path:
    """``n`` utterances of 0.3-0.7 s; with ``bad``, one more whose file is not audio."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(n):
        wav = path / f"u{i}.wav"
        sf.write(wav, (0.1 * rng.standard_normal(int(RATE * (0.3 + 0.05 * i)))).astype("float32"), RATE)
        lines.append(f"u{i} {wav}\n")
    if bad:
        (path / "bad.wav").write_text("not audio")
        lines.append(f"bad {path / 'bad.wav'}\n")
    (path / "wav.scp").write_text("".join(lines))
    return path


def count_and_fail(monkeypatch, cls, method: str, ids_of, fail_after: int | None):
    """Wrap ``cls.method``: count the utterances it computes (``ids_of(args, kwargs)``) and,
    once ``fail_after`` of them are done, raise :class:`Stop` instead of computing more."""
    calls: Counter = Counter()
    original = getattr(cls, method)

    def wrapped(self, *args, **kwargs):
        ids = ids_of(args, kwargs)
        if fail_after is not None and sum(calls.values()) + len(ids) > fail_after:
            raise Stop(f"injected failure before {ids}")
        result = original(self, *args, **kwargs)
        calls.update(ids)
        return result

    monkeypatch.setattr(cls, method, wrapped)
    return calls


def outputs(out: Path, ignore=("rtf.json",)) -> dict[str, bytes]:
    """Every file under ``out`` (relative path -> bytes), ``out`` itself in the paths the scp
    files list written as ``<O>``; rtf.json holds timings, never the same twice."""
    here = str(out.resolve()).encode()
    return {str(p.relative_to(out)): p.read_bytes().replace(here, b"<O>")
            for p in sorted(out.rglob("*")) if p.is_file() and p.name not in ignore}


def interrupted_then_continued(monkeypatch, capsys, cls, method, ids_of, args, out: Path,
                               fail_after: int) -> Counter:
    """Run ``audiokit-infer args output_dir=out`` failing after ``fail_after`` utterances,
    then again; the utterances computed by both runs together."""
    with monkeypatch.context() as m:
        first = count_and_fail(m, cls, method, ids_of, fail_after)
        with pytest.raises(Stop):
            main([*args, f"output_dir={out}"])
    assert (out / JOURNAL).is_file()
    capsys.readouterr()
    with monkeypatch.context() as m:
        second = count_and_fail(m, cls, method, ids_of, None)
        main([*args, f"output_dir={out}"])
    printed = capsys.readouterr().out
    assert f"continuing in {out}: {sum(first.values())} of " in printed
    assert not (out / JOURNAL).exists()
    assert not list(out.rglob("*.tmp"))
    assert 0 < sum(first.values()) <= fail_after and set(first).isdisjoint(second)
    return first + second


# ---------------------------------------------------------------- classification and ASR

@pytest.fixture(scope="module")
def cls_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cls")
    return classifier_exp(root / "exp"), audio_dir(root / "data", bad=True)


def batch_ids(args, kwargs):
    return list(args[2] if len(args) > 2 else kwargs["ids"])


def test_classification_continues_where_it_failed(cls_setup, tmp_path, monkeypatch, capsys):
    from audiokit.inference.classify import AudioClassifier

    exp, data = cls_setup
    args = [f"exp_dir={exp}", f"data_dir={data}", "max_batch_seconds=1.2", "on_bad_audio=skip"]
    with monkeypatch.context() as m:
        whole = count_and_fail(m, AudioClassifier, "posteriors", batch_ids, None)
        main([*args, f"output_dir={tmp_path / 'ref'}"])
    assert sorted(whole) == [f"u{i}" for i in range(9)] and set(whole.values()) == {1}

    out = tmp_path / "out"
    both = interrupted_then_continued(monkeypatch, capsys, AudioClassifier, "posteriors",
                                      batch_ids, args, out, fail_after=4)
    assert both == whole  # every utterance once, none lost
    assert outputs(out) == outputs(tmp_path / "ref")
    assert (out / "skipped").read_text().startswith("bad ")  # the bad file stays listed
    assert len((out / "utt2label").read_text().splitlines()) == 9


def test_a_finished_output_dir_is_computed_anew(cls_setup, tmp_path, monkeypatch, capsys):
    from audiokit.inference.classify import AudioClassifier

    exp, data = cls_setup
    args = [f"exp_dir={exp}", f"data_dir={data}", f"output_dir={tmp_path}", "on_bad_audio=skip"]
    main(args)
    first = outputs(tmp_path)
    calls = count_and_fail(monkeypatch, AudioClassifier, "posteriors", batch_ids, None)
    main(args)
    assert sum(calls.values()) == 9 and "continuing" not in capsys.readouterr().out
    assert outputs(tmp_path) == first


def refused(args) -> str:
    """The one-line error audiokit-infer exits with."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert str(e.value.code).startswith("audiokit-infer: error: ")
    return str(e.value.code)


def test_another_model_or_setting_is_refused(cls_setup, tmp_path, monkeypatch, capsys):
    from audiokit.inference.classify import AudioClassifier

    exp, data = cls_setup
    out = tmp_path / "out"
    args = [f"exp_dir={exp}", f"data_dir={data}", "max_batch_seconds=1.2", "on_bad_audio=skip",
            f"output_dir={out}"]
    with monkeypatch.context() as m:
        count_and_fail(m, AudioClassifier, "posteriors", batch_ids, 4)
        with pytest.raises(Stop):
            main(args)
    capsys.readouterr()
    retrained = classifier_exp(tmp_path / "exp2", seed=1)
    err = refused([*args[1:], f"exp_dir={retrained}"])
    assert f"{out} holds a partial run of something else" in err
    assert f"exp_dir: {exp} then, {retrained} now" in err and "model.pt: sha256 " in err
    assert "overwrite=true" in err and "fresh output_dir" in err

    # the model copied to another exp dir
    (tmp_path / "exp3").mkdir()
    for name in ("model.pt", "config.yaml"):
        (tmp_path / "exp3" / name).write_bytes((exp / name).read_bytes())
    moved = [*args[1:], f"exp_dir={tmp_path / 'exp3'}"]
    err = refused(moved)  # another path, same model: still refused (the path named)
    assert "exp_dir: " in err and "model.pt" not in err.split("(", 1)[1]
    # a setting that changes outputs
    assert "downmix: False then, True now" in refused([*args, "downmix=true"])

    calls = count_and_fail(monkeypatch, AudioClassifier, "posteriors", batch_ids, None)
    main([*args[1:], f"exp_dir={retrained}", "overwrite=true"])  # starts over
    assert sum(calls.values()) == 9 and not (out / JOURNAL).exists()


def test_a_full_disk_stops_with_a_message_and_the_rerun_continues(cls_setup, tmp_path, monkeypatch,
                                                                   capsys):
    import errno

    exp, data = cls_setup
    args = [f"exp_dir={exp}", f"data_dir={data}", "max_batch_seconds=1.2", "on_bad_audio=skip"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])
    out = tmp_path / "out"
    synced = []

    def fsync(fd):  # the journal's third batch finds the disk full
        synced.append(fd)
        if len(synced) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", fsync)
        err = refused([*args, f"output_dir={out}"])
    assert f"cannot write {out / JOURNAL}: No space left on device" in err
    assert "run the same command again to continue" in err
    capsys.readouterr()
    main([*args, f"output_dir={out}"])
    assert f"continuing in {out}: " in capsys.readouterr().out
    assert outputs(out) == outputs(tmp_path / "ref")


def test_asr_continues_with_the_same_text_and_nbest(tmp_path, monkeypatch, capsys):
    from audiokit.inference.speech2text import Speech2Text
    from audiokit.tasks.asr import ASRTask
    from audiokit.text.tokenizer import train_tokenizer

    words = "zero one two three".split()
    spec = train_tokenizer("word", [" ".join(words)], tmp_path / "tok")
    torch.manual_seed(0)
    block = {"d_model": 16, "num_heads": 2, "ffn_dim": 32, "num_blocks": 1, "dropout": 0.0}
    task = ASRTask(
        tokenizer=spec,
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": RATE, "n_mels": 20},
        model={"_target_": "audiokit.models.asr.ASRModel",
               "encoder": {"_target_": "audiokit.models.asr.ConformerEncoder", **block,
                           "kernel_size": 3, "attention_dropout": 0.0, "positional_dropout": 0.0},
               "decoder": {"_target_": "audiokit.models.asr.TransformerDecoder", **block}},
        loss={"_target_": "audiokit.losses.HybridCTCAttentionLoss", "ctc_weight": 0.3},
        optim={"_target_": "torch.optim.Adam", "lr": 3e-3},
        decoding={"mode": "ctc_beam", "beam": 3, "nbest": 2})
    exp = save_exp_dir(task, tmp_path / "exp")
    data = audio_dir(tmp_path / "data", n=7)
    args = [f"exp_dir={exp}", f"data_dir={data}", "max_batch_seconds=1.0"]

    def lengths(args, kwargs):  # transcribe_batch(audio, audio_lens): every length differs
        return args[1].tolist()

    with monkeypatch.context() as m:
        whole = count_and_fail(m, Speech2Text, "transcribe_batch", lengths, None)
        main([*args, f"output_dir={tmp_path / 'ref'}"])
    out = tmp_path / "out"
    both = interrupted_then_continued(monkeypatch, capsys, Speech2Text, "transcribe_batch",
                                      lengths, args, out, fail_after=3)
    assert both == whole and len(whole) == 7 and set(whole.values()) == {1}
    assert outputs(out) == outputs(tmp_path / "ref")
    assert len((out / "nbest").read_text().splitlines()) == 14
    assert len((out / "text").read_text().splitlines()) == 7


def test_speaker_embeddings_and_scores_continue(tmp_path, monkeypatch, capsys):
    from test_speaker_pipeline import build_task

    from audiokit.inference.speaker import SpeakerEmbedder
    from audiokit.inference.trials import read_embeddings

    torch.manual_seed(0)
    exp = save_exp_dir(build_task(["a", "b"]).eval(), tmp_path / "exp")
    data = audio_dir(tmp_path / "data", n=6)
    (data / "trials").write_text("u0 u1 target\nu2 u5 nontarget\nu3 u4 target\n")
    args = [f"exp_dir={exp}", f"data_dir={data}", "max_batch_seconds=1.0"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])

    def lengths(args, kwargs):  # embed_batch(audio, audio_lens): every length differs
        return args[1].tolist()

    out = tmp_path / "out"
    both = interrupted_then_continued(monkeypatch, capsys, SpeakerEmbedder, "embed_batch",
                                      lengths, args, out, fail_after=3)
    assert sum(both.values()) == 6 and len(both) == 6
    assert (out / "scores").read_bytes() == (tmp_path / "ref" / "scores").read_bytes()
    got, ref = read_embeddings(out / "embeddings.npz"), read_embeddings(tmp_path / "ref" / "embeddings.npz")
    assert list(got) == list(ref) and all(np.array_equal(got[u], ref[u]) for u in ref)


# ---------------------------------------------------------------- per-utterance files

def test_separation_continues_with_identical_wavs(tmp_path, monkeypatch, capsys):
    from audiokit.inference.separate import Separator
    from audiokit.tasks.separation import SeparationTask

    torch.manual_seed(0)
    task = SeparationTask(2, RATE, model={"_target_": "audiokit.models.separation.ConvTasNet",
                                          "num_filters": 8, "bottleneck_channels": 8,
                                          "hidden_channels": 8, "num_blocks": 1,
                                          "num_repeats": 1, "skip_channels": 0},
                          loss={"_target_": "audiokit.losses.pit.PITLoss"},
                          optim={"_target_": "torch.optim.Adam", "lr": 1e-3})
    exp = save_exp_dir(task, tmp_path / "exp")
    data = audio_dir(tmp_path / "data", n=5)
    args = [f"exp_dir={exp}", f"data_dir={data}"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])

    def ids_of(args, kwargs):  # Separator.__call__(waveform): every length differs
        return [len(args[0])]

    out = tmp_path / "out"
    both = interrupted_then_continued(monkeypatch, capsys, Separator, "__call__", ids_of, args,
                                      out, fail_after=2)
    assert sum(both.values()) == 5 and len(both) == 5
    assert outputs(out) == outputs(tmp_path / "ref")
    assert len((out / "spk2.scp").read_text().splitlines()) == 5


def test_tts_continues_with_identical_wavs(tmp_path, monkeypatch, capsys):
    from test_tts_synthesis import write_exp_dir

    from audiokit.inference.text2speech import Text2Speech

    exp = write_exp_dir(tmp_path / "exp")
    data = tmp_path / "data"
    data.mkdir()
    (data / "text").write_text("a three one\nb one five\nc six\nd 中文\ne two\n")
    args = [f"exp_dir={exp}", f"data_dir={data}", "tts.on_bad_text=skip"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])

    out = tmp_path / "out"
    both = interrupted_then_continued(monkeypatch, capsys, Text2Speech, "synthesize",
                                      lambda a, k: [a[1] if len(a) > 1 else k["utt"]], args, out,
                                      fail_after=2)
    assert both == Counter(["a", "b", "c", "e"])
    got = outputs(out)
    assert got == outputs(tmp_path / "ref") and "skipped" in got and "wav/e.wav" in got
    assert json.loads((out / "rtf.json").read_text())["num_utts"] == 4


def test_vocoder_and_codec_continue(tmp_path, monkeypatch):
    from test_codec_pipeline import _Task

    from audiokit.inference.codec import Codec

    torch.manual_seed(0)
    codec = Codec(_Task(), RATE)
    data = audio_dir(tmp_path / "data", n=4)
    codec.process_data_dir(str(data), str(tmp_path / "ref"))

    out = tmp_path / "out"
    run = {"test": "codec"}
    with monkeypatch.context() as m:
        first = count_and_fail(m, Codec, "encode", lambda a, k: [len(a[0])], 2)
        with pytest.raises(Stop):
            codec.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    second = count_and_fail(monkeypatch, Codec, "encode", lambda a, k: [len(a[0])], None)
    codec.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    assert sum(first.values()) == 2 and sum(second.values()) == 2 and not set(first) & set(second)
    got = outputs(out)
    assert got == outputs(tmp_path / "ref") and "codes/u3.npy" in got and "wav/u3.wav" in got
    assert not (out / JOURNAL).exists() and not list(out.rglob("*.tmp"))


def test_codec_lm_sampling_continues_as_one_run(tmp_path, monkeypatch):
    """Sampled generation (temperature 1), one utterance per batch: the batches after the
    failure draw from the generator state journaled with the last one done."""
    from test_codec_lm_infer import generator, lm_task

    from audiokit.inference.codec_lm import CodecLMGenerator

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        sf.write(data / f"p{i}.wav", (0.1 * rng.standard_normal(8000)).astype("float32"), RATE)
    (data / "text").write_text("u0 12\nu1 345\nu2 6\nu3 78\n")
    (data / "utt2prompt").write_text("".join(f"u{i} {data / f'p{i}.wav'}\n" for i in range(4)))
    task = lm_task({"_target_": "audiokit.models.codec_lm.CodecLM", "pattern": "delay",
                    "condition": "cross"})
    # one pipeline for all three runs: the helper's codec draws its k-means start outside
    # torch's seed, so two of them may code the prompts differently
    gen = generator(task, {"max_frames": 8, "temperature": 1.0, "batch_size": 1})
    gen.process_data_dir(str(data), str(tmp_path / "ref"))

    def chunk(args, kwargs):  # _generate(chunk, texts, prompts, generator)
        return list(args[0])

    out, run = tmp_path / "out", {"test": "codec_lm"}
    with monkeypatch.context() as m:
        first = count_and_fail(m, CodecLMGenerator, "_generate", chunk, 2)
        with pytest.raises(Stop):
            gen.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    second = count_and_fail(monkeypatch, CodecLMGenerator, "_generate", chunk, None)
    gen.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    assert sorted(first) == ["u0", "u1"] and sorted(second) == ["u2", "u3"]
    ignore = ("rtf.json", "generation.json")  # generation.json: this run's seconds
    got = outputs(out, ignore)
    assert got == outputs(tmp_path / "ref", ignore) and "codes/u3.npy" in got
    assert any(np.load(out / "codes" / f"u{i}.npy").shape[1] for i in range(4))  # real samples
    assert not (out / JOURNAL).exists()


def test_music_nll_continues_and_samples_are_drawn_again(tmp_path, monkeypatch):
    from test_music_data import piece, pipeline

    from audiokit.inference.music import MusicGenerator
    from audiokit.music.events import EventConfig, write_token_dir

    write_token_dir(tmp_path / "tok", EventConfig())
    data = tmp_path / "data"
    data.mkdir()
    (data / "events").write_text("".join(f"p{i} {' '.join(piece(2 + i, 40 + i))}\n" for i in range(5)))
    gen = pipeline(tmp_path / "tok", num_samples=2, max_events=5, stride=4)
    gen.process_data_dir(str(data), str(tmp_path / "ref"))

    def ids(args, kwargs):  # piece_nll(ids): every piece has another length
        return [len(args[0])]

    out, run = tmp_path / "out", {"test": "music"}
    with monkeypatch.context() as m:
        first = count_and_fail(m, MusicGenerator, "piece_nll", ids, 3)
        with pytest.raises(Stop):
            gen.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    second = count_and_fail(monkeypatch, MusicGenerator, "piece_nll", ids, None)
    gen.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    assert sum(first.values()) == 3 and sum(second.values()) == 2 and not set(first) & set(second)
    got = outputs(out)
    assert got == outputs(tmp_path / "ref") and len(got["nll"].splitlines()) == 5
    assert "midi.scp" in got and not (out / JOURNAL).exists()


def test_diarization_continues_with_the_same_rttm(tmp_path):
    """A stand-in diarizer (turns from the audio's length and level; one recording without
    speech) through the data-dir loop the real ones share."""
    from audiokit.data.rttm import Turn
    from audiokit.inference.diarization import _RecordingDiarizer

    class LengthDiarizer(_RecordingDiarizer):
        def __init__(self, fail_after: int | None = None):
            self.sample_rate, self.device, self.options = RATE, "cpu", {"oracle_num_speakers": False}
            self.fail_after, self.seen = fail_after, []

        def diarize(self, audio, num_speakers=None):
            seconds = len(audio) / RATE
            if seconds == pytest.approx(0.4):
                return []
            if len(self.seen) == self.fail_after:
                raise Stop("injected")
            self.seen.append(seconds)
            return [Turn(0.0, seconds / 3, "spk0"),
                    Turn(seconds / 3, seconds * (1 + float(audio.abs().max())), "spk1")]

    data = audio_dir(tmp_path / "data", n=6)
    LengthDiarizer().process_data_dir(str(data), str(tmp_path / "ref"))
    out, run = tmp_path / "out", {"test": "diarization"}
    first = LengthDiarizer(fail_after=3)
    with pytest.raises(Stop):
        first.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    second = LengthDiarizer()
    second.process_data_dir(str(data), str(out), progress=InferenceProgress(out, run))
    assert len(first.seen) == 3 and len(second.seen) == 2  # u2 (0.4 s) has no speech
    assert not set(first.seen) & set(second.seen)
    assert outputs(out) == outputs(tmp_path / "ref") and "no_speech" in outputs(out)
    assert not (out / JOURNAL).exists()


KILLER = """
import os, signal, sys
import soundfile as sf
from audiokit.cli.infer import main

# SIGKILL half way through writing the wav of the third utterance: no cleanup runs
writes = []
original = sf.SoundFile.write
def write(self, data):
    writes.append(1)
    if len(writes) == 3:
        original(self, data[: len(data) // 2])
        self.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, data)
sf.SoundFile.write = write
main(sys.argv[1:])
"""


def test_sigkill_mid_write_then_rerun(tmp_path, capsys):
    """A real SIGKILL of audiokit-infer (enhancement: one wav per utterance) while it writes
    the third wav: nothing truncated under a final name; the rerun ends as one run would."""
    from audiokit.tasks.separation import SeparationTask

    torch.manual_seed(0)
    task = SeparationTask(1, RATE, model={"_target_": "audiokit.models.separation.ConvTasNet",
                                          "num_sources": 1, "num_filters": 8,
                                          "bottleneck_channels": 8, "hidden_channels": 8,
                                          "num_blocks": 1, "num_repeats": 1, "skip_channels": 0},
                          loss={"_target_": "audiokit.losses.pit.PITLoss"},
                          optim={"_target_": "torch.optim.Adam", "lr": 1e-3})
    exp = save_exp_dir(task, tmp_path / "exp")
    data = audio_dir(tmp_path / "data", n=5)
    args = [f"exp_dir={exp}", f"data_dir={data}"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLER, *args, f"output_dir={out}"],
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    folder = out / "wav" / "spk1"
    assert sorted(p.name for p in folder.iterdir()) == ["u0.wav", "u1.wav", "u2.wav.tmp"]
    assert len((out / JOURNAL).read_text().splitlines()) == 3  # header + u0 + u1
    capsys.readouterr()
    main([*args, f"output_dir={out}"])
    assert f"continuing in {out}: 2 of 5 utterances already done" in capsys.readouterr().out
    assert outputs(out) == outputs(tmp_path / "ref")
    assert not (out / JOURNAL).exists() and not list(out.rglob("*.tmp"))


def test_another_data_dir_content_is_refused(cls_setup, tmp_path, monkeypatch):
    from audiokit.inference.classify import AudioClassifier

    exp, data = cls_setup
    copy = audio_dir(tmp_path / "data", n=9)
    args = [f"exp_dir={exp}", f"data_dir={copy}", "max_batch_seconds=1.2", f"output_dir={tmp_path / 'o'}"]
    with monkeypatch.context() as m:
        count_and_fail(m, AudioClassifier, "posteriors", batch_ids, 4)
        with pytest.raises(Stop):
            main(args)
    with open(copy / "wav.scp", "a") as f:  # one more utterance since
        f.write(f"u9 {copy / 'u0.wav'}\n")
    err = refused(args)
    assert "data_dir/wav.scp: sha256 " in err and "exp_dir" not in err


# ---------------------------------------------------------------- the mechanism itself

def test_a_failed_write_leaves_nothing_under_the_final_name(tmp_path):
    path = tmp_path / "u1.wav"
    with pytest.raises(OSError, match=f"cannot write {path}: No space left on device; the "
                                      "utterances finished so far are kept"), atomic_file(path) as f:
        f.write(b"RIFF half a file")
        raise OSError(28, "No space left on device")
    assert not path.exists() and not list(tmp_path.iterdir())
    path.write_bytes(b"old")
    with pytest.raises(Stop), atomic_file(path) as f:
        f.write(b"new but cut short")
        raise Stop
    assert path.read_bytes() == b"old"


def test_a_kill_mid_write_leaves_no_partial_file(tmp_path):
    """SIGKILL-like exit (os._exit) half way through a wav: nothing under its name."""
    code = ("import os, sys\n"
            "from audiokit.inference.progress import atomic_file\n"
            "with atomic_file(sys.argv[1]) as f:\n"
            "    f.write(b'RIFF' + bytes(1000)); f.flush()\n"
            "    os._exit(9)\n")
    path = tmp_path / "u1.wav"
    result = subprocess.run([sys.executable, "-c", code, str(path)], env={**os.environ,
                            "OMP_NUM_THREADS": "1"})
    assert result.returncode == 9
    assert not path.exists() and (tmp_path / "u1.wav.tmp").stat().st_size == 1004


def test_a_journal_line_cut_short_is_not_counted(tmp_path, capsys):
    run = {"exp_dir": "E"}
    progress = InferenceProgress(tmp_path, run)
    progress.begin(["u1", "u2", "u3"])
    progress.record({"u1": "x", "u2": "y"})
    with open(tmp_path / JOURNAL, "a") as f:
        f.write('{"results": {"u3": "z"')  # killed while appending the next batch
    again = InferenceProgress(tmp_path, run)
    assert again.begin(["u1", "u2", "u3"]) == ["u3"]
    assert "2 of 3 utterances already done" in capsys.readouterr().out
    again.record({"u3": "z"})
    lines = (tmp_path / JOURNAL).read_text().splitlines()
    assert [json.loads(line) for line in lines[1:]] == [{"results": {"u1": "x", "u2": "y"}},
                                                          {"results": {"u3": "z"}}]
    assert InferenceProgress(tmp_path, run).results == {"u1": "x", "u2": "y", "u3": "z"}


def test_an_utterance_whose_file_is_gone_is_done_again(tmp_path):
    wav = tmp_path / "u1.wav"
    wav.write_bytes(b"x")
    progress = InferenceProgress(tmp_path, {})
    progress.record({"u1": str(wav), "u2": "-"}, files={"u1": [str(wav)]})
    wav.unlink()
    again = InferenceProgress(tmp_path, {})
    assert again.begin(["u1", "u2"]) == ["u1"] and set(again.results) == {"u2"}


def test_a_journal_of_another_run_names_what_differs(tmp_path):
    InferenceProgress(tmp_path, {"exp_dir": "A", "model.pt": "2" * 64})  # nothing recorded:
    assert not (tmp_path / JOURNAL).exists()                                # no journal
    first = InferenceProgress(tmp_path, {"exp_dir": "A", "model.pt": "1" * 64, "decoding.beam": 4})
    first.record({"u1": "x"})
    with pytest.raises(ProgressMismatch) as e:
        InferenceProgress(tmp_path, {"exp_dir": "A", "model.pt": "2" * 64})
    assert "decoding.beam: 4 then, not set now" in str(e.value)
    assert "model.pt: sha256 111111111111 then, 222222222222 now" in str(e.value)
    assert InferenceProgress(tmp_path, {"exp_dir": "B"}, overwrite=True).results == {}


def test_vocoder_continues_with_identical_wavs(tmp_path, monkeypatch, capsys):
    from audiokit.inference.vocode import Vocoder, write_griffin_lim_exp_dir

    frontend = {"_target_": "audiokit.frontends.LogMel", "sample_rate": RATE, "n_mels": 40,
                "n_fft": 256, "win_ms": 25.0, "hop_ms": 10.0}
    exp = write_griffin_lim_exp_dir(tmp_path / "gl", sample_rate=RATE, frontend=frontend, n_iter=4)
    data = audio_dir(tmp_path / "data", n=4)
    args = [f"exp_dir={exp}", f"data_dir={data}"]
    main([*args, f"output_dir={tmp_path / 'ref'}"])
    both = interrupted_then_continued(monkeypatch, capsys, Vocoder, "copy_synthesis",
                                      lambda a, k: [len(a[0])], args, tmp_path / "out", fail_after=2)
    assert sum(both.values()) == 4 and len(both) == 4
    got = outputs(tmp_path / "out")
    assert got == outputs(tmp_path / "ref") and "wav/u3.wav" in got
    assert json.loads((tmp_path / "out" / "rtf.json").read_text())["num_utts"] == 4


def test_the_same_audio_written_later_gives_the_same_bytes(tmp_path):
    """libsndfile's PEAK chunk (time of writing) is left out: byte-identical reruns."""
    import time

    from audiokit.inference.progress import write_wav

    audio = np.linspace(-1.5, 1.5, 800, dtype=np.float32)  # above full scale: float keeps it
    first = Path(write_wav(tmp_path / "a.wav", audio, RATE)).read_bytes()
    time.sleep(1.1)
    assert Path(write_wav(tmp_path / "b.wav", audio, RATE)).read_bytes() == first
    read, rate = sf.read(tmp_path / "b.wav", dtype="float32")
    assert rate == RATE and np.array_equal(read, audio) and b"PEAK" not in first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "b.wav"]
