"""Frontends against torchaudio/numpy references, padding invariance, CMVN stats, Hydra configs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchaudio
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchaudio.compliance import kaldi

from audiokit.frontends import (
    GlobalCMVN,
    KaldiFbank,
    LogMel,
    RawWaveform,
    SincNet,
    StatsAccumulator,
)

CONF_DIR = Path(__file__).resolve().parents[2] / "audiokit" / "conf" / "frontend"


def signal(num_samples: int, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(num_samples, generator=torch.Generator().manual_seed(seed))


def padded_batch(lens: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random utterances, padded with loud noise (not zeros) so any leak into valid frames shows."""
    wav = 10.0 * torch.randn(len(lens), max(lens), generator=torch.Generator().manual_seed(seed))
    for b, n in enumerate(lens):
        wav[b, :n] = signal(n, seed=seed + b + 1)
    return wav, torch.tensor(lens)


@pytest.mark.parametrize(
    ("sample_rate", "win", "hop", "n_fft"), [(8000, 200, 80, 256), (16000, 400, 160, 512)]
)
@pytest.mark.parametrize("frontend_cls", [LogMel, KaldiFbank])
def test_sizes_from_milliseconds(frontend_cls, sample_rate, win, hop, n_fft):
    frontend = frontend_cls(sample_rate)
    assert (frontend.win_length, frontend.hop_length, frontend.n_fft) == (win, hop, n_fft)
    assert frontend.output_dim == 80


def test_logmel_matches_melspectrogram():
    # 32 ms at 8 kHz = 256 samples = n_fft: the plain center=False reference applies directly.
    x = signal(4000)
    frontend = LogMel(8000, n_mels=40, win_ms=32.0)
    ref = torchaudio.transforms.MelSpectrogram(
        sample_rate=8000, n_fft=256, win_length=256, hop_length=80, n_mels=40, center=False
    )
    expected = torch.log(ref(x) + 1e-6).T
    feats, feat_lens = frontend(x.unsqueeze(0), torch.tensor([4000]))
    assert feat_lens.tolist() == [expected.size(0)] == [1 + (4000 - 256) // 80]
    torch.testing.assert_close(feats[0], expected)


def test_logmel_window_shorter_than_n_fft_starts_at_frame_start():
    # 25 ms at 8 kHz = 200 samples inside a 256-point FFT; torch.stft centres the window in the
    # FFT frame, so the reference gets the same 28-sample shift LogMel applies.
    x = signal(4000)
    frontend = LogMel(8000, n_mels=40)
    ref = torchaudio.transforms.MelSpectrogram(
        sample_rate=8000, n_fft=256, win_length=200, hop_length=80, n_mels=40, center=False
    )
    expected = torch.log(ref(F.pad(x, (28, 28))) + 1e-6).T
    feats, feat_lens = frontend.extract(x.unsqueeze(0), torch.tensor([4000]))
    assert feat_lens.tolist() == [expected.size(0)] == [1 + (4000 - 200) // 80]
    torch.testing.assert_close(feats[0], expected)


def test_kaldi_fbank_matches_reference():
    x = signal(4000)
    frontend = KaldiFbank(8000, n_mels=40)
    expected = kaldi.fbank(
        x.unsqueeze(0) * 32768,
        sample_frequency=8000,
        num_mel_bins=40,
        frame_length=25.0,
        frame_shift=10.0,
        low_freq=0.0,
        high_freq=4000.0,
        dither=0.0,
    )
    feats, feat_lens = frontend(x.unsqueeze(0), torch.tensor([4000]))
    assert feat_lens.tolist() == [expected.size(0)]
    torch.testing.assert_close(feats[0], expected)


@pytest.mark.parametrize("frontend_cls", [LogMel, KaldiFbank])
def test_n_fft_shorter_than_window_is_rejected(frontend_cls):
    with pytest.raises(ValueError, match="n_fft"):
        frontend_cls(8000, n_fft=128)


# lens: two utterances plus one shorter than a window (0 frames). Expected frames at 8 kHz:
# LogMel/KaldiFbank window 200, hop 80; SincNet span 201 + 80 - 1 = 280, hop 80; raw = samples.
@pytest.mark.parametrize(
    ("make", "expected_lens"),
    [
        (lambda: LogMel(8000, n_mels=40), [18, 11, 0]),
        (lambda: KaldiFbank(8000, n_mels=40), [18, 11, 0]),
        (lambda: LogMel(8000, n_mels=40, utterance_cmn=True), [18, 11, 0]),
        (lambda: KaldiFbank(8000, n_mels=40, utterance_cmn=True), [18, 11, 0]),
        (lambda: SincNet(8000, out_channels=16), [17, 10, 0]),
        (lambda: RawWaveform(normalize=True), [1600, 1000, 150]),
    ],
    ids=["logmel", "fbank", "logmel-utterance-cmn", "fbank-utterance-cmn", "sincnet", "raw"],
)
def test_batched_with_padding_equals_alone(make, expected_lens):
    frontend = make()
    if hasattr(frontend, "cmvn"):  # non-trivial CMVN must keep padding at 0 too
        frontend.cmvn.mean.fill_(1.0)
        frontend.cmvn.std.fill_(2.0)
    wav, lens = padded_batch([1600, 1000, 150])
    with torch.no_grad():
        feats, feat_lens = frontend(wav, lens)
        assert feat_lens.tolist() == expected_lens
        assert feats.shape == (3, max(expected_lens), frontend.output_dim)
        for b, n in enumerate(lens.tolist()):
            alone, alone_lens = frontend(wav[b : b + 1, :n], lens[b : b + 1])
            assert alone_lens.tolist() == [expected_lens[b]]
            torch.testing.assert_close(feats[b, : expected_lens[b]], alone[0])
            assert torch.all(feats[b, expected_lens[b] :] == 0)


def test_stats_accumulator_matches_numpy_and_round_trips(tmp_path):
    acc = StatsAccumulator(5)
    valid = []
    for seed, lens in [(0, [7, 3]), (1, [4, 6, 1])]:
        gen = torch.Generator().manual_seed(seed)
        feats = 3.0 + 2.0 * torch.randn(len(lens), max(lens), 5, generator=gen)
        for b, n in enumerate(lens):
            feats[b, n:] = 1e4  # padding must not count
            valid.append(feats[b, :n].numpy())
        acc.update(feats, torch.tensor(lens))
    frames = np.concatenate(valid).astype(np.float64)
    np.testing.assert_allclose(acc.mean.numpy(), frames.mean(0), rtol=1e-12)
    np.testing.assert_allclose(acc.std.numpy(), frames.std(0), rtol=1e-9)

    path = tmp_path / "stats" / "cmvn.json"
    acc.save(path)
    assert json.loads(path.read_text())["count"] == len(frames) == 21
    cmvn = GlobalCMVN(5, stats_file=str(path))
    x = torch.randn(2, 4, 5)
    out, out_lens = cmvn(x, torch.tensor([4, 2]))
    expected = (x - torch.tensor(frames.mean(0))) / torch.tensor(frames.std(0))
    torch.testing.assert_close(out[0], expected[0].float())
    torch.testing.assert_close(out[1, :2], expected[1, :2].float())
    assert torch.all(out[1, 2:] == 0) and out_lens.tolist() == [4, 2]


def test_missing_stats_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "cmvn.json"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        GlobalCMVN(80, stats_file=str(path))
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        LogMel(8000, stats_file=str(path))


def test_cmvn_without_stats_is_identity_until_state_dict_loaded():
    cmvn = GlobalCMVN(3)
    x = torch.randn(1, 4, 3)
    torch.testing.assert_close(cmvn(x, torch.tensor([4]))[0], x)
    mean = torch.tensor([1.0, 2.0, 3.0])
    cmvn.load_state_dict({"mean": mean, "std": torch.full((3,), 2.0)})
    torch.testing.assert_close(cmvn(x, torch.tensor([4]))[0], (x - mean) / 2)


def test_frontend_state_dict_keys_do_not_depend_on_stats_file(tmp_path):
    acc = StatsAccumulator(40)
    frontend = LogMel(8000, n_mels=40)
    wav, lens = padded_batch([1600, 1000])
    feats, feat_lens = frontend.extract(wav, lens)
    acc.update(feats, feat_lens)
    acc.save(tmp_path / "cmvn.json")
    normalised = LogMel(8000, n_mels=40, stats_file=str(tmp_path / "cmvn.json"))
    assert normalised.state_dict().keys() == frontend.state_dict().keys()
    out, _ = normalised(wav, lens)
    expected = (feats - acc.mean.float()) / acc.std.float()
    torch.testing.assert_close(out[0], expected[0])
    # Over the stats' own frames, normalised features have zero mean.
    valid = out[torch.arange(out.size(1)) < feat_lens.unsqueeze(1)]
    torch.testing.assert_close(valid.mean(0), torch.zeros(40), atol=1e-4, rtol=0)


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_sincnet_filters_peak_inside_their_band(sample_rate):
    frontend = SincNet(sample_rate, out_channels=40)
    assert frontend.kernel_size % 2 == 1
    n_fft = 1 << 15
    with torch.no_grad():
        response = torch.fft.rfft(frontend.filters(), n=n_fft).abs()
        low, high = frontend.cutoffs()
    peak_hz = torch.fft.rfftfreq(n_fft, 1 / sample_rate)[response.argmax(1)]
    for c in [0, 1, 10, 20, 39]:
        assert low[c] <= peak_hz[c] <= high[c], (c, low[c], high[c], peak_hz[c])


def test_sincnet_gradients_reach_cutoffs():
    frontend = SincNet(8000, out_channels=16)
    wav, lens = padded_batch([1600, 1000])
    feats, _ = frontend(wav, lens)
    feats.sum().backward()
    for param in (frontend.low_hz_, frontend.band_hz_):
        assert param.grad is not None
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["logmel", "fbank", "raw", "sincnet"])
def test_hydra_config_instantiates_and_runs(name):
    cfg = OmegaConf.create(
        {
            "data": {"sample_rate": 8000},
            "paths": {"cmvn_stats": None},
            "frontend": OmegaConf.load(CONF_DIR / f"{name}.yaml"),
        }
    )
    OmegaConf.resolve(cfg)
    frontend = instantiate(cfg.frontend)
    wav, lens = padded_batch([1600, 1000])
    with torch.no_grad():
        feats, feat_lens = frontend(wav, lens)
    assert isinstance(frontend.output_dim, int)
    assert feats.shape == (2, int(feat_lens.max()), frontend.output_dim)


def test_logmel_utterance_cmn_removes_level_and_keeps_padding_zero():
    wav, lens = padded_batch([4000, 3000, 150])
    frontend = LogMel(8000, utterance_cmn=True)
    feats, feat_lens = frontend(wav, lens)
    assert feat_lens.tolist() == [48, 36, 0]
    for b, n in enumerate(feat_lens.tolist()):
        if n:
            torch.testing.assert_close(feats[b, :n].mean(0), torch.zeros(80), atol=1e-5, rtol=0)
        assert torch.all(feats[b, n:] == 0)
    # 20 dB louder: the same features, up to the log offset's effect on near-silent bins.
    louder, _ = frontend(10 * wav[:1, :4000], lens[:1])
    torch.testing.assert_close(louder[0], feats[0], atol=0.02, rtol=0)


def test_normalise_level_sets_each_utterances_rms_and_keeps_padding_zero():
    from audiokit.frontends.level import normalise_level

    wav, lens = padded_batch([4000, 3000, 150])
    wav[1] *= 0.01
    out = normalise_level(wav, lens, -20.0)
    for b, n in enumerate(lens.tolist()):
        rms_db = 10 * torch.log10(out[b, :n].square().mean())
        torch.testing.assert_close(rms_db, torch.tensor(-20.0), atol=1e-3, rtol=0)
        assert torch.all(out[b, n:] == 0)
    silent = normalise_level(torch.zeros(1, 100), torch.tensor([100]), -20.0)
    assert torch.all(silent == 0)


def test_logmel_level_dbfs_makes_a_quiet_recording_match_a_loud_one():
    wav, lens = padded_batch([4000])
    wav = wav + 1e-3 * torch.randn(1, 4000)  # a noise floor the offset would cut when quiet
    plain, leveled = LogMel(8000), LogMel(8000, level_dbfs=-25.0)
    quiet, loud = 0.003 * wav, 0.3 * wav
    # without it the quiet recording's weak bins sit on log(offset): more than a constant apart
    diff = plain(quiet, lens)[0] - plain(loud, lens)[0]
    assert (diff - diff.mean()).abs().max() > 1.0
    torch.testing.assert_close(leveled(quiet, lens)[0], leveled(loud, lens)[0], atol=1e-3, rtol=0)


def test_kaldi_fbank_utterance_cmn_is_kaldi_fbank_minus_its_mean_and_level_invariant():
    wav, lens = padded_batch([4000, 3000, 150])
    frontend = KaldiFbank(8000, n_mels=40, utterance_cmn=True)
    feats, feat_lens = frontend(wav, lens)
    assert feat_lens.tolist() == [48, 36, 0]
    for b, n in enumerate(lens.tolist()[:2]):
        ref = kaldi.fbank(wav[b : b + 1, :n] * 32768.0, sample_frequency=8000, num_mel_bins=40,
                          low_freq=0.0, dither=0.0)
        torch.testing.assert_close(feats[b, : len(ref)], ref - ref.mean(0), atol=1e-4, rtol=0)
        assert torch.all(feats[b, len(ref) :] == 0)
    assert torch.all(feats[2] == 0)
    # 20 dB louder adds log(100) to every bin of Kaldi's log filterbank: the mean takes it away.
    louder, _ = frontend(10 * wav[:2], lens[:2])
    torch.testing.assert_close(louder, feats[:2], atol=1e-4, rtol=0)
    plain = KaldiFbank(8000, n_mels=40)(10 * wav[:1, :4000], lens[:1])[0]
    base = KaldiFbank(8000, n_mels=40)(wav[:1, :4000], lens[:1])[0]
    torch.testing.assert_close(plain - base, torch.full_like(base, float(np.log(100.0))),
                               atol=1e-3, rtol=0)
