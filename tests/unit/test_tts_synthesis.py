"""Text2Speech on a small untrained Tacotron 2 exp dir: waveform out, bad text named, long
text split and bounded, vocoder feature mismatch refused (audiokit-infer: test_tts_infer_cli.py)."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from audiokit.inference.text2speech import Text2Speech
from audiokit.inference.vocode import write_griffin_lim_exp_dir
from audiokit.tasks.tts import TTSTask
from audiokit.text.tts_frontend import TextFrontend
from audiokit.utils.errors import UserError

RATE = 8000
FRONTEND = {"_target_": "audiokit.frontends.LogMel", "sample_rate": RATE, "n_mels": 20, "win_ms": 25.0,
            "hop_ms": 10.0, "n_fft": 256, "f_min": 0.0, "f_max": None, "stats_file": None,
            "vtln_warp": None, "utterance_cmn": False}
MODEL = {"_target_": "audiokit.models.tts.tacotron2.Tacotron2", "embed_dim": 16, "attention_rnn_dim": 24,
         "decoder_rnn_dim": 24, "attention_dim": 8, "location_filters": 4, "location_kernel": 5,
         "prenet_dim": 8, "postnet_dim": 8, "postnet_layers": 2, "reduction_factor": 2}
TRAIN_TEXTS = ["three one four", "one five nine two", "six"]


def write_exp_dir(path: Path, n_mels: int = 20) -> Path:
    torch.manual_seed(0)
    text = TextFrontend.build("char", "english", TRAIN_TEXTS).spec()
    task = TTSTask(text=text, frontend={**FRONTEND, "n_mels": n_mels}, model=MODEL,
                   loss={"_target_": "audiokit.losses.tacotron2.Tacotron2Loss"},
                   optim={"_target_": "torch.optim.Adam"}, max_text_symbols=20, max_seconds_per_symbol=0.1)
    with torch.no_grad():
        task.model.stop.bias.fill_(-10.0)  # an untrained decoder that never stops
    path.mkdir(parents=True)
    torch.save({"task": "audiokit.tasks.tts.TTSTask", "hparams": dict(task.hparams),
                "state_dict": task.state_dict(), "best_checkpoint": "", "averaged": []}, path / "model.pt")
    (path / "config.yaml").write_text(OmegaConf.to_yaml({"data": {"sample_rate": RATE}}))
    return path


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    return write_exp_dir(tmp_path_factory.mktemp("tts") / "exp")


def test_text_to_waveform(exp_dir):
    tts = Text2Speech.from_exp_dir(exp_dir)
    wav = tts("Three, 1 4!")
    assert wav.dim() == 1 and wav.numel() > 0 and torch.isfinite(wav).all()
    result = tts.synthesize("three one four")
    # the untrained decoder never stops: the length guard (2 x 0.1 s per symbol) ends it
    steps = result.attentions[0].shape[0]
    assert steps == tts.task.max_decoder_steps(15) < 1000
    assert result.failures[0].no_stop and result.failed_pieces == 1
    assert result.audio.numel() == result.features.shape[0] * 80


@pytest.mark.parametrize("text, message", [("", "nothing to say"), ("  ?! ", "nothing to say"),
                                           ("three 中文", "'中' '文'")])
def test_bad_text_is_named(exp_dir, text, message):
    tts = Text2Speech.from_exp_dir(exp_dir)
    with pytest.raises(UserError, match=message):
        tts(text)


def test_long_text_is_said_in_bounded_pieces(exp_dir):
    tts = Text2Speech.from_exp_dir(exp_dir)  # max_symbols: 1.5 x 20 = 30
    text = "three one four. " * 12 + "one two, three four, five six, seven eight, nine zero one two"
    pieces = tts.pieces(text)
    assert len(pieces) > 12 and all(len(tts.text.symbols(p)) + 1 <= 30 for p in pieces)
    assert " ".join(pieces) == tts.text.clean(text)
    with pytest.raises(UserError, match="longer than 30 symbols"):
        tts.pieces("one" * 20)


def test_vocoder_exp_dir_with_other_features_is_refused(exp_dir, tmp_path):
    same = write_griffin_lim_exp_dir(tmp_path / "gl", sample_rate=RATE, frontend=FRONTEND, n_iter=2)
    wav = Text2Speech.from_exp_dir(exp_dir, vocoder_exp_dir=str(same))("six")
    assert wav.numel() > 0
    other = write_griffin_lim_exp_dir(tmp_path / "gl40", sample_rate=RATE, frontend={**FRONTEND, "n_mels": 40})
    with pytest.raises(UserError, match="n_mels: 20 here, 40 in the vocoder"):
        Text2Speech.from_exp_dir(exp_dir, vocoder_exp_dir=str(other))


def test_tts_options_are_for_tts_experiments_only(exp_dir, tmp_path):
    with pytest.raises(UserError, match="unknown tts option"):
        Text2Speech.from_exp_dir(exp_dir, tts={"speed": 2})


def test_same_call_same_audio(exp_dir):
    """The prenet's dropout is on at inference; its draws are seeded, and the global RNG is left alone."""
    tts = Text2Speech.from_exp_dir(exp_dir)
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a, b = tts("three one"), tts("three one")
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    other = Text2Speech.from_exp_dir(exp_dir, tts={"seed": 1})("three one")
    assert not torch.equal(a, other)
