"""Every entry point fails with one line naming the problem (issue 25, items 4 and 'One error
path'): no traceback unless AUDIOKIT_DEBUG=1."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch
from conftest import write_wav
from omegaconf import OmegaConf

from audiokit.cli import infer


@pytest.fixture(scope="module")
def cls_exp(tmp_path_factory) -> Path:
    """An untrained fsdd_cnn classifier exported as audiokit-train does (model.pt, config.yaml)."""
    from hydra import compose, initialize_config_dir

    from audiokit.cli.train import CONF_DIR, build_task

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cls/fsdd_cnn"])
    task = build_task(cfg, {"labels": ["a", "b"]})
    exp = tmp_path_factory.mktemp("cls_exp")
    torch.save({"task": "audiokit.tasks.classification.ClassificationTask",
                "hparams": dict(task.hparams), "state_dict": task.state_dict()}, exp / "model.pt")
    OmegaConf.save({"data": {"sample_rate": 8000, "downmix": False}}, exp / "config.yaml")
    return exp


def data_dir(root: Path, n: int = 2, **files: str) -> Path:
    """A data dir of n short synthetic wavs; ``files`` overrides/adds text files."""
    root.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        lines.append(f"u{i} {write_wav(root / f'u{i}.wav', seconds=0.3, seed=i)}")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def run_infer(capsys, *args: str) -> str:
    """The stderr of a failing audiokit-infer run: one error line (a listing of bad
    utterances may follow, indented), no traceback, exit status 1."""
    with pytest.raises(SystemExit) as e:
        infer.main(list(args))
    err = capsys.readouterr().err.strip()
    message = str(e.value.code) if isinstance(e.value.code, str) else err
    assert e.value.code not in (0, None)
    first, *listing = message.splitlines()
    assert "Traceback" not in message and all(line.startswith("  ") for line in listing), message
    assert first.startswith("audiokit-infer: error: "), message
    return message


def test_missing_exp_dir(capsys, tmp_path):
    m = run_infer(capsys, f"exp_dir={tmp_path}/nope", f"data_dir={tmp_path}", "output_dir=o")
    assert "no such experiment dir" in m and "did training finish" not in m


def test_exp_dir_without_model(capsys, tmp_path):
    (tmp_path / "exp" / "checkpoints").mkdir(parents=True)
    m = run_infer(capsys, f"exp_dir={tmp_path}/exp", f"data_dir={tmp_path}", "output_dir=o")
    assert "no model.pt" in m and "checkpoints" in m


def test_data_dir_without_wav_scp(capsys, cls_exp, tmp_path):
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={tmp_path}", f"output_dir={tmp_path}/o")
    assert "no wav.scp" in m
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={tmp_path}/x", f"output_dir={tmp_path}/o")
    assert "no such data dir" in m


def test_duplicate_ids(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    (d / "wav.scp").write_text((d / "wav.scp").read_text() * 2)
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "duplicate id 'u0'" in m and "wav.scp:3" in m


def test_non_utf8_text(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    (d / "text").write_bytes(b"u0 caf\xe9\nu1 ok\n")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "text:1: not valid UTF-8" in m


def test_utt2spk_mismatch(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d", utt2spk="u0 s0\nu7 s1\n")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "utt2spk" in m and "u7" in m


def test_zero_byte_file_named_then_skipped(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    (d / "u1.wav").write_bytes(b"")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "u1" in m and "u1.wav" in m and "on_bad_audio=skip" in m
    infer.main([f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o",
                "on_bad_audio=skip"])
    assert (tmp_path / "o" / "utt2label").read_text().split()[0] == "u0"
    assert (tmp_path / "o" / "skipped").read_text().startswith("u1 ")


def test_missing_audio_file_says_no_such_file(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    (d / "u1.wav").unlink()
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "no such file" in m and "System error" not in m


def test_decoding_key_on_a_classifier(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o",
                  "decoding.beam=4")
    assert "decoding.* applies to ASR experiments; this experiment is a classifier" in m


def test_stereo_needs_downmix_which_infer_can_set(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    write_wav(d / "u1.wav", seconds=0.3, channels=2)
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "2 channels" in m and "downmix=true" in m
    infer.main([f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o", "downmix=true"])
    assert len((tmp_path / "o" / "utt2label").read_text().splitlines()) == 2


def test_nan_samples_named(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    sf.write(d / "u1.wav", [0.0, float("nan")] * 1000, 8000, subtype="FLOAT")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "u1" in m and "NaN" in m


def test_wrong_value_type(capsys, tmp_path):
    m = run_infer(capsys, "exp_dir=e", "data_dir=d", "output_dir=o", "num_workers=two")
    assert "num_workers must be an integer" in m


def test_debug_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("AUDIOKIT_DEBUG", "1")
    with pytest.raises(ValueError, match="no such experiment dir"):
        infer.main([f"exp_dir={tmp_path}/nope", f"data_dir={tmp_path}", "output_dir=o"])


def test_infer_help_names_tasks_and_files(capsys):
    with pytest.raises(SystemExit) as e:
        infer.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("utt2label", "nbest", "rttm", "embeddings.npz", "spk1.scp", "classification"):
        assert word in out


# ---------------------------------------------------------------- audiokit-train

def run_train(monkeypatch, capsys, *args: str) -> str:
    from audiokit.cli import train

    monkeypatch.setattr("sys.argv", ["audiokit-train", *args])
    with pytest.raises(SystemExit) as e:
        train.main()
    err = e.value.code
    assert isinstance(err, str) and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("audiokit-train: error: "), err
    return last


@pytest.mark.parametrize(("override", "expected"), [
    ("trainer.max_epochs=abc", "trainer.max_epochs takes a whole number"),
    ("data.num_workers=two", "data.num_workers takes a whole number"),
    ("optim.lr=fast", "optim.lr takes a number"),
    ("trainer.max_epochs=2.5", "trainer.max_epochs takes a whole number"),
])
def test_train_value_types_checked_before_anything_is_built(monkeypatch, capsys, override,
                                                           expected):
    assert expected in run_train(monkeypatch, capsys, "experiment=cls/fsdd_cnn", override)


def test_train_required_value_is_one_line(monkeypatch, capsys, tmp_path):
    # ssl/fsdd_spin continues a pretrained encoder: without model.pretrained it must not
    # quietly start from random weights
    err = run_train(monkeypatch, capsys, "experiment=ssl/fsdd_spin", f"exp_dir={tmp_path}/exp")
    assert "required value(s) not given: model.pretrained=..." in err
    assert not (tmp_path / "exp").exists()


def test_train_unknown_experiment_lists_them(monkeypatch, capsys):
    err = run_train(monkeypatch, capsys, "experiment=cls/nope")
    assert "unknown experiment 'cls/nope'; did you mean 'cls/fsdd_cnn'" in err
    assert "sep/fsdd_convtasnet" in err


def test_train_missing_data_dir_is_one_line_and_leaves_no_exp_dir(monkeypatch, capsys, tmp_path):
    err = run_train(monkeypatch, capsys, "experiment=cls/fsdd_cnn",
                    f"paths.data_root={tmp_path}/nodata", f"exp_dir={tmp_path}/exp")
    assert "nodata/train: not a data dir (no wav.scp)" in err
    assert not (tmp_path / "exp").exists()


def test_train_help_lists_experiments_and_examples(monkeypatch, capsys):
    from audiokit.cli import train

    monkeypatch.setattr("sys.argv", ["audiokit-train", "--help"])
    train.main()
    out = capsys.readouterr().out
    assert out.startswith("usage: audiokit-train experiment=NAME")
    assert "examples:" in out and "cls/fsdd_cnn " in out and "sv/fsdd_ecapa" in out
    assert len(out.splitlines()) < 80


def test_train_cfg_job_still_prints_the_config(monkeypatch, capsys):
    from audiokit.cli import train

    monkeypatch.setattr("sys.argv", ["audiokit-train", "experiment=cls/fsdd_cnn", "--cfg", "job"])
    train.main()
    assert "max_epochs: 50" in capsys.readouterr().out


# ---------------------------------------------------------------- audiokit-score

def run_score(*args: str) -> str:
    from audiokit.cli import score

    with pytest.raises(SystemExit) as e:
        score.main(list(args))
    assert isinstance(e.value.code, str) and "Traceback" not in e.value.code
    assert e.value.code.startswith("audiokit-score: error: "), e.value.code
    return e.value.code


def test_score_missing_reference(tmp_path):
    (tmp_path / "hyp").write_text("u0 a\n")
    m = run_score("task=cls", f"ref={tmp_path}/ref", f"hyp={tmp_path}/hyp")
    assert f"{tmp_path}/ref: no such file" in m


def test_score_unknown_task_and_mismatched_ids(tmp_path):
    (tmp_path / "hyp").write_text("u0 a\n")
    (tmp_path / "ref").write_text("u1 a\n")
    assert "unknown task 'clss'" in run_score("task=clss", "ref=r", "hyp=h")
    m = run_score("task=cls", f"ref={tmp_path}/ref", f"hyp={tmp_path}/hyp")
    assert "1 reference utterance(s) without hypothesis" in m


def test_score_non_utf8_hypothesis(tmp_path):
    (tmp_path / "hyp").write_bytes(b"u0 \xff\n")
    (tmp_path / "ref").write_text("u0 a\n")
    assert "hyp:1: not valid UTF-8" in run_score("task=asr", f"ref={tmp_path}/ref",
                                                 f"hyp={tmp_path}/hyp")


def test_score_help_names_tasks_and_files(capsys):
    from audiokit.cli import score

    with pytest.raises(SystemExit) as e:
        score.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("cls", "asr", "sep", "sv", "diar", "report.json", "RESULTS.md", "errors.txt"):
        assert word in out


@pytest.mark.parametrize(("override", "expected"), [
    ("trainer.max_epochs=[", "an override does not parse"),
    ("+trainer.max_epochs=3", "Either remove + prefix"),
    ("~trainer.nothing", "'trainer.nothing' does not exist"),
])
def test_train_hydra_override_errors_are_one_line(monkeypatch, capsys, override, expected):
    assert expected in run_train(monkeypatch, capsys, "experiment=cls/fsdd_cnn", override)


def test_misconfiguration_is_a_user_error():
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from audiokit.utils.errors import user_errors

    with pytest.raises(SystemExit) as e, user_errors("audiokit-train"):
        raise MisconfigurationException("`Trainer(devices=4)` but only 1 GPU is available")
    assert e.value.code == "audiokit-train: error: `Trainer(devices=4)` but only 1 GPU is available"
    with pytest.raises(TypeError), user_errors("audiokit-train"):  # a bug keeps its traceback
        raise TypeError("internal")


def test_bad_device_is_named(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", "output_dir=o", "device=gpu")
    assert "device=gpu: not a device" in m
    if not torch.cuda.is_available():
        m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", "output_dir=o",
                      "device=cuda")
        assert "no CUDA GPU is available here" in m


def test_score_sep_missing_estimate_file(tmp_path):
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.mkdir()
    hyp.mkdir()
    mix = write_wav(tmp_path / "mix.wav")
    (ref / "wav.scp").write_text(f"u0 {mix}\n")
    (ref / "spk1.scp").write_text(f"u0 {mix}\n")
    (hyp / "spk1.scp").write_text(f"u0 {tmp_path}/gone.wav\n")
    m = run_score("task=sep", f"ref={ref}", f"hyp={hyp}")
    assert f"utterance 'u0': {tmp_path}/gone.wav: no such file" in m
    assert "skip_invalid=true" in m


def test_truncated_model_file_and_bad_config_yaml(capsys, cls_exp, tmp_path):
    import shutil

    d = data_dir(tmp_path / "d")
    cut = tmp_path / "cut"
    shutil.copytree(cls_exp, cut)
    (cut / "model.pt").write_bytes((cls_exp / "model.pt").read_bytes()[:5000])
    m = run_infer(capsys, f"exp_dir={cut}", f"data_dir={d}", "output_dir=o")
    assert f"{cut}/model.pt: cannot be loaded" in m
    bad = tmp_path / "bad"
    shutil.copytree(cls_exp, bad)
    (bad / "config.yaml").write_text("data: {sample_rate: [\n")
    m = run_infer(capsys, f"exp_dir={bad}", f"data_dir={d}", "output_dir=o")
    assert f"{bad}/config.yaml: not valid YAML (line 2)" in m


def test_utterances_too_short_for_the_model_are_named(capsys, cls_exp, tmp_path):
    d = data_dir(tmp_path / "d")
    for name in ("u0", "u1"):
        write_wav(d / f"{name}.wav", seconds=0.01)
    m = run_infer(capsys, f"exp_dir={cls_exp}", f"data_dir={d}", f"output_dir={tmp_path}/o")
    assert "utterance(s) u0, u1: 80 samples (0.010 s) or fewer is too short" in m \
        or "utterance(s) u1, u0: 80 samples" in m
