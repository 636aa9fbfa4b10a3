"""Speaker similarity of synthesised speech to the real voice, with its ceiling and floor.

Embeddings (any speaker-verification model) are length-normalised. A speaker's voice is the
normalised mean of the embeddings of their real recordings. Per synthesised utterance: the
cosine to its own speaker's voice. Beside it, from the real recordings alone:

- ceiling: each real recording against the voice of its speaker's OTHER real recordings
  (leave-one-out, so a recording is never compared with itself);
- floor (two or more speakers): each real recording against each other speaker's voice.

``position`` = (similarity - floor) / (ceiling - floor): 1 is as close as real recordings of
the speaker are to each other, 0 as close as another speaker's. With several speakers,
``closest_own`` is the fraction of synthesised utterances whose nearest voice is their own.
"""

from __future__ import annotations

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def speaker_similarity(synthesised: dict[str, np.ndarray], real: dict[str, np.ndarray],
                       utt2spk: dict[str, str]) -> dict:
    """``synthesised``/``real``: {utt: embedding}; ``utt2spk`` names the speaker of both."""
    speakers = sorted({utt2spk[u] for u in real})
    members = {s: [u for u in real if utt2spk[u] == s] for s in speakers}
    sums = {s: np.sum([_unit(real[u]) for u in members[s]], axis=0) for s in speakers}
    voices = {s: _unit(sums[s]) for s in speakers}
    per_utt = {}
    for u, e in synthesised.items():
        if utt2spk[u] not in voices:
            raise ValueError(f"utterance '{u}': speaker '{utt2spk[u]}' has no real recording")
        per_utt[u] = float(_unit(e) @ voices[utt2spk[u]])
    ceiling = [float(_unit(real[u]) @ _unit(sums[utt2spk[u]] - _unit(real[u])))
               for u in real if len(members[utt2spk[u]]) > 1]
    floor = [float(_unit(real[u]) @ voices[s]) for u in real for s in speakers
             if s != utt2spk[u]]
    report = {"similarity": float(np.mean(list(per_utt.values()))) if per_utt else None,
              "ceiling": float(np.mean(ceiling)) if ceiling else None,
              "floor": float(np.mean(floor)) if floor else None,
              "num_speakers": len(speakers), "num_synthesised": len(per_utt),
              "num_real": len(real), "per_utt": per_utt}
    if None not in (report["similarity"], report["ceiling"], report["floor"]):
        span = report["ceiling"] - report["floor"]
        report["position"] = (report["similarity"] - report["floor"]) / span if span else None
    if len(speakers) > 1 and per_utt:
        names = list(voices)
        matrix = np.stack([voices[s] for s in names])
        nearest = {u: names[int(np.argmax(matrix @ _unit(synthesised[u])))] for u in per_utt}
        report["closest_own"] = float(np.mean([nearest[u] == utt2spk[u] for u in per_utt]))
    return report
