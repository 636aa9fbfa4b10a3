"""``audiokit-score task=t2m``: how well generated clips follow their captions.

``ref`` is a rendered data dir (:mod:`audiokit.music.render`): the captions (``text``) and
their facts (``utt2timbre``, ``utt2tempo``, ``utt2key``, ``utt2mode``), with the real clips in
``wav.scp``. ``hyp`` is a folder with ``wav.scp``: one generated clip per caption, under the
caption's utterance id (every id of ``ref``, no other).

- **Adherence** per fact: the share of clips whose fact, as judged, is the caption's.
  Timbre and tempo are judged by classifiers trained with the classification task on the
  rendered audio (``classifier_exp_dirs=[E_timbre,E_tempo]``; the fact each judges is its
  training config's ``data.label_file``, e.g. ``utt2tempo``). Key and mode are judged by
  chroma key estimation (:mod:`audiokit.music.chroma_key`): ``key`` counts tonic and mode
  both right, ``mode`` and ``tonic`` each alone.
- **Fréchet distance** (:mod:`audiokit.metrics.frechet`) between Gaussians fitted to each
  judge's embeddings (the input of its output layer) of the generated clips and of real clips:
  ``fd_ref`` (a data dir of real clips; default ``ref``'s own).
- **Chance**: for each fact, the share of captions holding its commonest value (what a
  generator that ignores the caption could get by always producing that value).

Per clip: ``per_utt.tsv`` (caption, facts, judgements).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from audiokit.data.datadir import DataDir, read_kaldi_map
from audiokit.inference.batches import inference_batches
from audiokit.metrics.frechet import frechet_distance_embeddings
from audiokit.music import t2m_facts as facts
from audiokit.music.chroma_key import audio_key
from audiokit.utils.errors import UserError

FACTS = ("timbre", "tempo", "key", "mode", "tonic")


def read_facts(ref: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, file in facts.FACT_FILES.items():
        if not (ref / file).is_file():
            raise UserError(f"{ref / file}: missing (task=t2m needs a rendered data dir: "
                            "audiokit-prep render-chorales)")
        out[name] = read_kaldi_map(ref / file)
    return out


def _check_ids(ref: DataDir, hyp: DataDir) -> None:
    missing = [u for u in ref.utt_ids if u not in hyp.wav_scp]
    extra = [u for u in hyp.utt_ids if u not in ref.wav_scp]
    if missing or extra:
        raise UserError(f"{hyp.path}/wav.scp and {ref.path}/wav.scp differ: {len(missing)} "
                        f"caption(s) without a clip (e.g. {missing[:3]}), {len(extra)} clip(s) "
                        f"without a caption (e.g. {extra[:3]})")


class Judge:
    """A classification exp dir: labels and embeddings (its output layer's input) of clips."""

    def __init__(self, exp_dir: str, device: str = "cpu") -> None:
        from audiokit.inference.classify import AudioClassifier
        from audiokit.inference.loading import load_task

        task, cfg = load_task(exp_dir, device)
        self.exp_dir = exp_dir
        self.classifier = AudioClassifier(task, int(cfg.data.sample_rate), device)
        self.label_file = str(cfg.data.get("label_file", "utt2label"))
        self.fact = next((k for k, f in facts.FACT_FILES.items() if f == self.label_file), None)
        if self.fact is None:
            raise UserError(f"{exp_dir}: judges {self.label_file}, not a caption fact "
                            f"({', '.join(facts.FACT_FILES.values())})")

    @torch.inference_mode()
    def run(self, data_dir: str) -> tuple[dict[str, str], dict[str, np.ndarray]]:
        model = self.classifier.task.model
        layer = getattr(model, "head", None)
        captured: list[torch.Tensor] = []
        hook = None
        if isinstance(layer, torch.nn.Module):
            hook = layer.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        labels, embeddings = {}, {}
        try:
            batches, skipped = inference_batches(data_dir, self.classifier.sample_rate)
            if skipped:
                raise UserError(f"{data_dir}: unreadable clip(s): " + "; ".join(
                    f"{u}: {why}" for u, why in list(skipped.items())[:5]))
            for batch in batches:
                captured.clear()
                post = self.classifier.posteriors(batch["audio"], batch["audio_lens"], batch["ids"])
                emb = captured[-1] if captured else post.log()  # no head layer: log-posteriors
                for i, utt in enumerate(batch["ids"]):
                    labels[utt] = self.classifier.labels[int(post[i].argmax())]
                    embeddings[utt] = emb[i].float().cpu().numpy()
        finally:
            if hook is not None:
                hook.remove()
        return labels, embeddings


def _keys(hyp: DataDir) -> dict[str, tuple[int, str]]:
    import soundfile as sf

    out = {}
    for utt in hyp.utt_ids:
        path = hyp.wav_scp[utt]
        try:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
        except Exception as e:  # soundfile raises LibsndfileError, RuntimeError ...
            raise UserError(f"{hyp.path}/wav.scp: {utt}: cannot read {path} ({e})") from None
        tonic, mode, _ = audio_key(audio.mean(axis=1), rate)
        out[utt] = (tonic, mode)
    return out


def score_t2m(ref: str, hyp: str, classifier_exp_dirs: list[str], fd_ref: str | None = None,
              out_dir: Path | None = None) -> dict:
    ref_dir = DataDir.load(ref)
    hyp_dir = DataDir.load(hyp)
    _check_ids(ref_dir, hyp_dir)
    truth = read_facts(Path(ref))
    utts = ref_dir.utt_ids
    truth["tonic"] = dict(truth["key"])
    judged: dict[str, dict[str, str]] = {}
    fd: dict[str, float] = {}
    judges = [Judge(e) for e in classifier_exp_dirs]
    seen = Counter(j.fact for j in judges)
    if any(n > 1 for n in seen.values()):
        raise UserError(f"classifier_exp_dirs: two judges of the same fact ({dict(seen)})")
    fd_dir = fd_ref or ref
    for judge in judges:
        labels, gen = judge.run(hyp)
        _, real = judge.run(fd_dir)
        judged[judge.fact] = labels
        fd[judge.fact] = frechet_distance_embeddings(np.stack(list(gen.values())),
                                                     np.stack(list(real.values())))
    keys = _keys(hyp_dir)
    judged["key"] = {u: facts.tonic_name(t, m) for u, (t, m) in keys.items()}
    judged["mode"] = {u: m for u, (_, m) in keys.items()}
    judged["tonic"] = judged["key"]

    def right(fact: str, utt: str) -> bool:
        if fact in ("key", "tonic"):
            same = (facts.tonic_pitch_class(judged[fact][utt])
                    == facts.tonic_pitch_class(truth[fact][utt]))
            return same and (fact == "tonic" or judged["mode"][utt] == truth["mode"][utt])
        return judged[fact][utt] == truth[fact][utt]

    adherence, chance = {}, {}
    for fact in FACTS:
        if fact not in judged:
            continue
        adherence[fact] = float(np.mean([right(fact, u) for u in utts]))
        values = ([f"{truth['key'][u]} {truth['mode'][u]}" for u in utts] if fact == "key"
                  else [truth[fact][u] for u in utts])
        chance[fact] = Counter(values).most_common(1)[0][1] / len(utts)
    report = {"num_utts": len(utts), "adherence": adherence, "chance_majority": chance,
              "frechet_distance": fd, "fd_reference": str(fd_dir),
              "judges": {j.fact: j.exp_dir for j in judges}}
    if out_dir is not None:
        header = ["utt", "caption", *(f"{f}_true\t{f}_judged" for f in judged if f != "tonic")]
        lines = ["\t".join(header)]
        for u in utts:
            cells = [u, ref_dir.text.get(u, "") if ref_dir.text else ""]
            cells += [f"{truth[f][u]}\t{judged[f][u]}" for f in judged if f != "tonic"]
            lines.append("\t".join(cells))
        (out_dir / "per_utt.tsv").write_text("\n".join(lines) + "\n")
        report["per_utt_file"] = "per_utt.tsv"
    return report


def headline(report: dict) -> str:
    parts = [f"{k} {100 * v:.1f} %" for k, v in report["adherence"].items()]
    fd = ", ".join(f"{k} {v:.3f}" for k, v in report["frechet_distance"].items())
    return "adherence " + ", ".join(parts) + (f"; Fréchet distance ({fd})" if fd else "")


def results_section(report: dict) -> list[str]:
    lines = ["| fact | adherence | chance (commonest caption value) |", "|---|---|---|"]
    for fact, value in report["adherence"].items():
        how = "classifier" if fact in report["judges"] else "chroma"
        lines.append(f"| {fact} ({how}) | {100 * value:.1f} % | "
                     f"{100 * report['chance_majority'][fact]:.1f} % |")
    if report["frechet_distance"]:
        lines += ["", "| judge embeddings | Fréchet distance to real clips |", "|---|---|"]
        lines += [f"| {fact} | {v:.4f} |" for fact, v in report["frechet_distance"].items()]
        lines += ["", f"Real clips for the Fréchet distance: `{report['fd_reference']}`."]
    if report.get("per_utt_file"):
        path = f"scores/{report['name']}/{report['per_utt_file']}"
        lines += ["", f"Per clip: [{path}]({path})"]
    return lines
