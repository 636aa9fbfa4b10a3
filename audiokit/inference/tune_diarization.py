"""Tune a diarizer on a development set (as pyannote tunes its pipelines): the setting with
the lowest DER there is what test sets get. A pipeline tunes its clustering; EEND its
activity threshold and median filter.

    python -m audiokit.inference.tune_diarization exp_dir=E data_dir=data/valid [collar=0.25]

What comes before the tuned step (the pipeline's speech regions, windows and embeddings;
EEND's activity probabilities) is computed once per recording, and every setting of the
diarizer's grid (:data:`EEND_GRID`, :data:`PIPELINE_GRID`) only re-clusters or re-thresholds.
Writes ``E/tuned/overrides`` (``diarization.key=value`` lines for ``audiokit-infer``) and
``E/tuned/grid.json`` (every setting's DER).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from audiokit.data.audio import load_audio
from audiokit.data.datadir import DataDir
from audiokit.data.rttm import read_rttm
from audiokit.inference.diarization import Diarizer, EENDDiarizer, PipelineDiarizer
from audiokit.metrics.diarization import diarization_error
from audiokit.utils.cli_args import parse_key_values
from audiokit.utils.errors import cli_errors

# Pipeline: agglomerative thresholds (cosine distance) and spectral clustering, each with and
# without folding tiny clusters (straddling windows) into their nearest large one.
PIPELINE_GRID = [{"clustering": "ahc", "threshold": round(0.1 * t, 1), "min_cluster_fraction": f}
                 for t in range(1, 10) for f in (0.0, 0.1, 0.2)] + \
                [{"clustering": "spectral", "min_cluster_fraction": f} for f in (0.0, 0.1, 0.2)]
# EEND: activity thresholds 0.3-0.7 (an under-trained model's probabilities sit low), with and
# without the median filter.
EEND_GRID = [{"threshold": round(0.05 * t, 2), "median_frames": m}
             for t in range(6, 15) for m in (1, 11)]


@dataclass
class TuneConfig:
    exp_dir: str = "???"
    data_dir: str = "???"
    collar: float = 0.25
    device: str = "cpu"


def tune(diarizer: EENDDiarizer | PipelineDiarizer, data_dir: str, collar: float) -> list[dict]:
    """Every setting of the diarizer's grid with its DER on ``data_dir`` (whose ``rttm`` is the
    reference), best first."""
    data = DataDir.load(data_dir)
    reference = read_rttm(data.path / "rttm")
    segmented = {}
    for reco in data.utt_ids:
        source, start, end = data.audio_source(reco)
        segmented[reco] = diarizer.segment(
            load_audio(source, diarizer.sample_rate, utt=reco, start=start, end=end))
    rows = []
    grid = EEND_GRID if isinstance(diarizer, EENDDiarizer) else PIPELINE_GRID
    for setting in grid:
        hyp = {reco: diarizer.assign(seg, options=setting) for reco, seg in segmented.items()}
        der = diarization_error(reference, hyp, collar, missing="miss")["der"]
        rows.append({**setting, "der": der})
    return sorted(rows, key=lambda r: r["der"])


@cli_errors("tune_diarization")  # a wrong exp dir or data dir: one line, no traceback
def main(argv: list[str] | None = None) -> None:
    cfg = parse_key_values("tune_diarization", TuneConfig, sys.argv[1:] if argv is None else argv)
    diarizer = Diarizer.from_exp_dir(cfg.exp_dir, cfg.device)
    rows = tune(diarizer, cfg.data_dir, cfg.collar)
    best = {k: v for k, v in rows[0].items() if k != "der"}
    out = Path(cfg.exp_dir) / "tuned"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.json").write_text(json.dumps({"data_dir": cfg.data_dir, "collar": cfg.collar,
                                               "settings": rows}, indent=1))
    (out / "overrides").write_text("".join(f"diarization.{k}={v}\n" for k, v in best.items()))
    print(f"tune_diarization: best on {cfg.data_dir} (collar {cfg.collar} s): {best}, "
          f"DER {rows[0]['der']:.2f} % (of {len(rows)} settings; {out}/grid.json)")


if __name__ == "__main__":
    main()
