"""VITS through the GAN task and Text2Speech: an exp dir speaks text with no vocoder, noise
scales reach the model, speakers are named or refused (listing the known ones), and a tiny
model trained on real FSDD strings lowers its generator loss within a few dozen batches."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from omegaconf import OmegaConf

from audiokit.inference.text2speech import Text2Speech
from audiokit.tasks.vits import VITSTask
from audiokit.text.tts_frontend import TextFrontend
from audiokit.utils.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")

RATE = 8000
FRONTEND = {"_target_": "audiokit.frontends.LogMel", "sample_rate": RATE, "n_mels": 20, "win_ms": 25.0,
            "hop_ms": 10.0, "n_fft": 256, "f_min": 0.0, "f_max": None, "stats_file": None,
            "vtln_warp": None, "utterance_cmn": False}
MODEL = {"_target_": "audiokit.models.tts.vits.VITS", "latent_channels": 8, "speaker_channels": 4,
         "segment_frames": 8,
         "text_encoder": {"hidden": 16, "ffn_hidden": 32, "heads": 2, "layers": 1},
         "posterior_encoder": {"hidden": 16, "layers": 2}, "flow": {"hidden": 16, "layers": 1, "flows": 2},
         "duration_predictor": {"hidden": 16, "flows": 2},
         "decoder": {"channels": 32, "upsample_rates": [5, 4, 4], "resblock": 2,
                     "resblock_kernels": [3], "resblock_dilations": [[1, 2]]}}
DISCRIMINATOR = {"_target_": "audiokit.models.gan.MultiPeriodDiscriminator", "periods": [2, 3],
                 "channels": [4, 8, 8, 8, 8]}
LOSS = {"mel": {"_target_": "audiokit.losses.spectral.MelL1Loss", "sample_rate": RATE,
                "n_ffts": [256], "n_mels": 20}}
WEIGHTS = {"adv": 1.0, "fm": 2.0, "mel": 45.0, "kl": 1.0, "dur": 1.0}
TRAIN_TEXTS = ["three one four", "one five nine two", "six"]


def make_task(speakers=None, texts=TRAIN_TEXTS, lr=2e-3) -> VITSTask:
    torch.manual_seed(0)
    return VITSTask(sample_rate=RATE, text=TextFrontend.build("char", "english", texts).spec(),
                    frontend=FRONTEND, model=MODEL, discriminator=DISCRIMINATOR, loss=LOSS,
                    optim={"_target_": "torch.optim.AdamW", "lr": lr, "betas": [0.8, 0.99]},
                    loss_weights=WEIGHTS, speakers=speakers, max_text_symbols=20,
                    max_seconds_per_symbol=0.1, num_val_audio=0)


def write_exp_dir(path: Path, speakers=None) -> Path:
    task = make_task(speakers)
    path.mkdir(parents=True)
    torch.save({"task": "audiokit.tasks.vits.VITSTask", "hparams": dict(task.hparams),
                "state_dict": task.state_dict(), "best_checkpoint": "", "averaged": []}, path / "model.pt")
    (path / "config.yaml").write_text(OmegaConf.to_yaml({"data": {"sample_rate": RATE}}))
    return path


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return write_exp_dir(tmp_path_factory.mktemp("vits") / "exp", ["jackson"])


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    return write_exp_dir(tmp_path_factory.mktemp("vits") / "exp", ["george", "jackson", "theo"])


def test_exp_dir_speaks_without_a_vocoder(single):
    tts = Text2Speech.from_exp_dir(single)
    assert tts.vocoder_name == "none (end to end)" and tts.speakers == []
    wav = tts("Three, 1 4!")
    # 2 x 0.1 s per symbol guard: an untrained duration predictor cannot run away
    assert wav.dim() == 1 and 0 < wav.numel() <= (2 * 0.1 * 8000 / 80 * 31 + 10) * 80
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1
    assert torch.equal(wav, tts("Three, 1 4!"))                      # seeded: same call, same audio
    slower = Text2Speech.from_exp_dir(single, tts={"length_scale": 2.0})("Three, 1 4!")
    assert slower.numel() > wav.numel()
    quiet = Text2Speech.from_exp_dir(single, tts={"noise_scale": 0.0, "noise_scale_w": 0.0})
    assert quiet("six").numel() == quiet("six").numel() > 0


def test_vocoder_and_unknown_options_are_refused(single, tmp_path):
    with pytest.raises(UserError, match="makes its own waveform"):
        Text2Speech.from_exp_dir(single, vocoder_exp_dir=str(tmp_path))
    with pytest.raises(UserError, match="unknown tts option"):
        Text2Speech.from_exp_dir(single, tts={"speed": 2})


def test_unknown_speaker_is_an_error_listing_the_known_ones(single, multi, tmp_path):
    with pytest.raises(UserError, match=r"unknown speaker 'zed' \(known: george, jackson, theo\)"):
        Text2Speech.from_exp_dir(multi)("three", speaker="zed")
    with pytest.raises(UserError, match=r"name one \(known: george, jackson, theo\)"):
        Text2Speech.from_exp_dir(multi)("three")
    with pytest.raises(UserError, match=r"unknown speaker 'theo' \(known: jackson\)"):
        Text2Speech.from_exp_dir(single)("three", speaker="theo")
    data = tmp_path / "d"
    data.mkdir()
    (data / "text").write_text("u1 three one\nu2 four\n")
    (data / "utt2spk").write_text("u1 theo\nu2 zed\n")
    with pytest.raises(UserError, match=r"utt2spk: unknown speaker\(s\) zed \(known: george, jackson, theo\)"):
        Text2Speech.from_exp_dir(multi).process_data_dir(str(data), str(tmp_path / "out"))
    (data / "utt2spk").unlink()
    with pytest.raises(UserError, match="no utt2spk; this VITS model has 3 voices"):
        Text2Speech.from_exp_dir(multi).process_data_dir(str(data), str(tmp_path / "out"))


def test_multi_speaker_data_dir(multi, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "text").write_text("u1 three one\nu2 three one\n")
    (data / "utt2spk").write_text("u1 theo\nu2 george\n")
    tts = Text2Speech.from_exp_dir(multi)
    tts.process_data_dir(str(data), str(tmp_path / "out"))
    scp = dict(line.split() for line in (tmp_path / "out" / "wav.scp").read_text().splitlines())
    assert sorted(scp) == ["u1", "u2"] and all(Path(p).is_file() for p in scp.values())
    assert (tmp_path / "out" / "attention_failures").read_text() == "u1 0 -\nu2 0 -\n"
    # the same text and seed in two voices: the speaker embedding changes the audio
    a, b = tts.synthesize("three one", "x", "theo").audio, tts.synthesize("three one", "x", "george").audio
    n = min(a.numel(), b.numel())
    assert not torch.allclose(a[:n], b[:n])


def test_batched_synthesis_matches_lengths(single):
    task = Text2Speech.from_exp_dir(single).task
    ids = [torch.tensor(task.encode(t)) for t in ("three one four", "six")]
    torch.manual_seed(0)
    wavs = task.synthesize_waveforms(ids, noise_scale_w=0.0)
    assert len(wavs) == 2 and all(w.numel() % 80 == 0 and w.numel() > 0 for w in wavs)


@pytest.fixture(scope="module")
def fsdd_strings(fsdd_root, tmp_path_factory):
    from audiokit.data.corpora.fsdd_tts import prepare

    out = tmp_path_factory.mktemp("fsdd_vits")
    prepare(fsdd_root, out, "jackson", train_count=4, valid_count=1, test_count=1, max_digits=3)
    return out


def test_tiny_training_lowers_the_generator_loss(fsdd_strings, tmp_path):
    """40 batches of the same 4 real strings (one batch): the generator's total loss (mel,
    KL, duration, adversarial, feature matching) falls."""
    from audiokit.data.tts_datamodule import TTSDataModule

    dm = TTSDataModule(str(fsdd_strings / "train"), str(fsdd_strings / "valid"), RATE,
                       max_batch_seconds=60.0, max_batch_size=4, num_workers=0, with_speakers=True)
    kwargs = dm.task_kwargs()
    assert kwargs["speakers"] == ["jackson"]
    torch.manual_seed(0)
    task = VITSTask(sample_rate=RATE, frontend=FRONTEND, model=MODEL, discriminator=DISCRIMINATOR,
                    loss=LOSS, optim={"_target_": "torch.optim.AdamW", "lr": 2e-3, "betas": [0.8, 0.99]},
                    loss_weights=WEIGHTS, num_val_audio=0, **kwargs)
    losses = []

    class Record(pl.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            losses.append(float(trainer.callback_metrics["train/loss_g"]))

    trainer = pl.Trainer(max_steps=80, limit_val_batches=0, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()],
                         default_root_dir=str(tmp_path))
    trainer.fit(task, datamodule=dm)
    assert len(losses) == 40 and all(map(torch.isfinite, torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"generator loss: first 5 batches {first:.2f}, last 5 {last:.2f}")
    assert last < 0.8 * first, (first, last)
