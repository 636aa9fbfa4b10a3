"""HuBERT-style frame targets (Hsu et al. 2021): k-means cluster ids of MFCC frames (13 Kaldi
MFCCs + deltas + delta-deltas, 25 ms / 10 ms; iteration 1) or of one layer of a pretrained
encoder (iteration 2, through :class:`~audiokit.frontends.ssl_features.SSLFeatures`), fitted
with scikit-learn's ``MiniBatchKMeans``. Stable given a seed: the same data dir, features and
seed give the same labels.

Command line (a recipe stage)::

    python -m audiokit.models.ssl.kmeans_targets DATA_DIR OUT_DIR [--clusters 100] [--seed 0]
    python -m audiokit.models.ssl.kmeans_targets DATA_DIR OUT_DIR --sample-rate 8000 \
        --ssl-frontend audiokit/conf/frontend/ssl_ast.yaml --pretrained EXP_DIR --layer 3

writes ``OUT_DIR/targets`` (``utt_id label label ...``, one label per 10 ms frame, Kaldi
style), ``OUT_DIR/kmeans.json`` (centres and settings) and ``OUT_DIR/.done``; a second run
with the same settings does nothing (it says so), with other settings it fails loudly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import MiniBatchKMeans
from torchaudio.compliance import kaldi
from torchaudio.functional import compute_deltas

from audiokit.frontends.fbank import INT16_SCALE

N_MFCC = 13
WIN_SAMPLES_16K = 400  # Kaldi MFCC needs at least one 25 ms window


def mfcc_features(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """``wav`` [T] -> [frames, 39]: Kaldi MFCCs (no energy, no dither) with deltas and
    delta-deltas over time, as HuBERT's first-iteration features."""
    if wav.numel() < int(0.025 * sample_rate):
        return torch.zeros(0, 3 * N_MFCC)
    mfcc = kaldi.mfcc(wav.unsqueeze(0) * INT16_SCALE, sample_frequency=sample_rate,
                      num_ceps=N_MFCC, use_energy=False, dither=0.0)  # [frames, 13]
    delta = compute_deltas(mfcc.T)
    return torch.cat([mfcc.T, delta, compute_deltas(delta)]).T


def ssl_layer_features(frontend_yaml: str | Path, pretrained: str | Path | None, layer: int,
                       sample_rate: int) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """``(wav [T], rate) -> [frames, D]``: layer ``layer`` of the (frozen) encoder that a
    ``conf/frontend/ssl_*.yaml`` describes, with ``pretrained`` weights."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.merge({"data": {"sample_rate": sample_rate}},
                          {"frontend": OmegaConf.load(frontend_yaml)})
    cfg.frontend.layer, cfg.frontend.freeze = layer, True
    cfg.frontend.upstream.pretrained = None if pretrained is None else str(pretrained)
    frontend = instantiate(cfg.frontend).eval()

    def features(wav: torch.Tensor, rate: int) -> torch.Tensor:
        if rate != sample_rate:
            raise ValueError(f"audio at {rate} Hz, the SSL frontend was built for {sample_rate}")
        with torch.inference_mode():
            out, lens = frontend(wav.unsqueeze(0), torch.tensor([wav.numel()]))
        return out[0, : int(lens[0])]

    return features


def fit_kmeans(feats: Sequence[np.ndarray], clusters: int, seed: int,
               max_frames: int = 200_000, batch_size: int = 10_000) -> MiniBatchKMeans:
    """MiniBatchKMeans on the frames of ``feats`` (at most ``max_frames``, drawn with
    ``seed``); every source of randomness is seeded, so the fit is reproducible."""
    frames = np.concatenate(feats).astype(np.float64)
    if len(frames) < clusters:
        raise ValueError(f"{len(frames)} frames cannot make {clusters} clusters")
    if len(frames) > max_frames:
        frames = frames[np.random.default_rng(seed).choice(len(frames), max_frames, replace=False)]
    return MiniBatchKMeans(n_clusters=clusters, random_state=seed, batch_size=batch_size,
                           n_init=3, max_iter=100, max_no_improvement=20).fit(frames)


def frame_labels(kmeans: MiniBatchKMeans, feats: np.ndarray) -> np.ndarray:
    return kmeans.predict(feats.astype(np.float64)) if len(feats) else np.zeros(0, dtype=int)


def write_targets(data_dir: str | Path, out_dir: str | Path, clusters: int = 100, seed: int = 0,
                  sample_rate: int | None = None, max_frames: int = 200_000,
                  features: Callable[[torch.Tensor, int], torch.Tensor] = mfcc_features,
                  feature_name: str = "mfcc39") -> Path:
    """k-means targets (of MFCCs, or of ``features`` named ``feature_name``) for every
    utterance of ``data_dir`` (its wav.scp), written to ``out_dir``; returns the targets
    file. Idempotent (see the module doc)."""
    import soundfile as sf

    from audiokit.data.audio import load_audio
    from audiokit.data.datadir import read_kaldi_map, write_kaldi_map

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    settings = {"data_dir": str(data_dir.resolve()), "clusters": clusters, "seed": seed,
                "sample_rate": sample_rate, "max_frames": max_frames, "features": feature_name}
    done, targets = out_dir / ".done", out_dir / "targets"
    if done.is_file():
        if json.loads(done.read_text()) == settings:
            print(f"kmeans_targets: {targets} already written with these settings; nothing to do")
            return targets
        raise RuntimeError(f"{out_dir}: holds targets made with other settings "
                           f"({done.read_text().strip()}); remove it or choose another OUT_DIR")
    wavs = read_kaldi_map(data_dir / "wav.scp")
    feats = {}
    for utt, source in sorted(wavs.items()):
        rate = sample_rate or sf.info(source).samplerate
        feats[utt] = features(load_audio(source, rate, utt=utt), rate).float().numpy()
        if len(feats[utt]) == 0:
            raise ValueError(f"{data_dir}/wav.scp: utterance '{utt}' ({source}) is too short "
                             f"for one frame of {feature_name}")
    print(f"kmeans_targets: {len(feats)} utterances, "
          f"{sum(len(f) for f in feats.values())} frames -> {clusters} clusters (seed {seed})")
    kmeans = fit_kmeans(list(feats.values()), clusters, seed, max_frames)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_map(targets, {u: frame_labels(kmeans, f).tolist() for u, f in feats.items()})
    (out_dir / "kmeans.json").write_text(json.dumps(
        {**settings, "centres": kmeans.cluster_centers_.tolist(), "inertia": kmeans.inertia_}))
    done.write_text(json.dumps(settings))
    print(f"kmeans_targets: wrote {targets}")
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="resample to this rate first (default: each file's own)")
    parser.add_argument("--max-frames", type=int, default=200_000,
                        help="frames drawn (seeded) to fit the clusters")
    parser.add_argument("--ssl-frontend", default=None,
                        help="cluster a layer of this SSL frontend config instead of MFCCs")
    parser.add_argument("--pretrained", default=None, help="its upstream's weights")
    parser.add_argument("--layer", type=int, default=-1, help="which hidden state (0 = input)")
    args = parser.parse_args(argv)
    features, name = mfcc_features, "mfcc39"
    if args.ssl_frontend:
        if not args.sample_rate or not args.pretrained:
            parser.error("--ssl-frontend needs --sample-rate and --pretrained")
        features = ssl_layer_features(args.ssl_frontend, args.pretrained, args.layer,
                                      args.sample_rate)
        name = f"{args.ssl_frontend}:{Path(args.pretrained).resolve()}:layer{args.layer}"
    write_targets(args.data_dir, args.out_dir, args.clusters, args.seed, args.sample_rate,
                  args.max_frames, features, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
