"""Rendering chorales to captioned clips: captions state the labelled facts, the key label is
music21's analysis of what the clip plays, held-out combinations stay out of training, and the
same seed gives the same files. Synthetic four-part "chorales" (written with the project's MIDI
writer) stand in for the corpus, so no corpus parse is needed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiokit.data.datadir import DataDir, DataDirError, read_kaldi_map, read_list
from audiokit.music import t2m_facts as facts
from audiokit.music.events import EventConfig
from audiokit.music.midi_io import read_midi, write_midi
from audiokit.music.notes import Note, transpose
from audiokit.music.render import STEPS_PER_QUARTER, RenderConfig, render, window_notes
from audiokit.music.stats import analyze_key

# I-IV-V-I ... in C major, and i-iv-V-i in A minor, four voices, one chord per quarter
MAJOR = [(48, 55, 64, 72), (41, 57, 65, 72), (43, 55, 62, 71), (48, 55, 64, 72)]
MINOR = [(45, 57, 64, 72), (50, 57, 65, 69), (40, 56, 64, 71), (45, 60, 64, 69)]


def chorale(chords, repeats: int = 6) -> list[Note]:
    notes = []
    for i, chord in enumerate(chords * repeats):
        notes += [Note(4 * i, 4 * i + 4, p) for p in chord]
    return notes


def chorales_dir(root: Path, bad: bool = False) -> Path:
    cfg = EventConfig(steps_per_quarter=STEPS_PER_QUARTER)
    for split, pieces in (("train", {"maj_a": MAJOR, "min_a": MINOR}),
                          ("valid", {"maj_b": MAJOR}), ("test", {"min_b": MINOR, "maj_c": MAJOR})):
        lines = []
        for pid, chords in pieces.items():
            path = root / "midi" / f"{pid}.mid"
            write_midi(chorale(chords), path, cfg)
            lines.append(f"{pid} {path}")
        if bad and split == "test":
            (root / "midi" / "broken.mid").write_bytes(b"not a midi file")
            lines.append(f"broken {root / 'midi' / 'broken.mid'}")
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "midi.scp").write_text("\n".join(sorted(lines)) + "\n")
    return root


CFG = RenderConfig(clip_seconds=5.0, clips_per_chorale={"train": 3, "valid": 2, "test": 3})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2m")
    report = render(chorales_dir(root / "chorales", bad=True), root / "audio", CFG)
    return root, report


def read_dir(path: Path) -> dict[str, dict[str, str]]:
    return {name: read_kaldi_map(path / name) for name in (
        "wav.scp", "text", "utt2dur", "utt2timbre", "utt2tempo", "utt2key", "utt2mode",
        "utt2bpm", "utt2source")}


def test_held_out_triples_cover_every_fact():
    assert len(facts.HELD_OUT) == 12
    assert {t for t, _, _ in facts.HELD_OUT} == set(facts.TIMBRE_NAMES)
    assert {(tempo, m) for _, tempo, m in facts.HELD_OUT} == {
        (tempo, m) for tempo in facts.TEMPO_BPM for m in facts.MODES}
    for timbre in facts.TIMBRE_NAMES:  # every (timbre, tempo) pair keeps a mode for training
        for tempo in facts.TEMPO_BPM:
            assert any(not facts.is_held_out(timbre, tempo, m) for m in facts.MODES)


def test_caption_states_the_facts():
    assert facts.caption("organ", "slow", "D", "minor") == "a slow chorale in D minor played on organ"
    assert facts.tempo_class(64.0) == "slow" and facts.tempo_class(110.0) == "moderate"


def test_clips_captions_and_labels_agree(rendered):
    root, report = rendered
    counts = {"train": 6, "valid": 2, "test": 6}
    pattern = re.compile(r"a (\w+) chorale in ([A-G](?:-flat|-sharp)?) (major|minor) played on (\w+)")
    for split, n in counts.items():
        files = read_dir(root / "audio" / split)
        assert len(files["wav.scp"]) == n == report["splits"][split]["clips"]
        for utt, caption in files["text"].items():
            tempo, key, mode, timbre = pattern.fullmatch(caption).groups()
            assert (timbre, tempo, key, mode) == (files["utt2timbre"][utt], files["utt2tempo"][utt],
                                                  files["utt2key"][utt], files["utt2mode"][utt])
            assert facts.tempo_class(float(files["utt2bpm"][utt])) == tempo
            lo, hi = facts.TEMPO_BPM[tempo]
            assert lo <= float(files["utt2bpm"][utt]) <= hi
            # test captions are exactly the held-out combinations; train/valid never are
            assert facts.is_held_out(timbre, tempo, mode) == (split == "test")
            audio, rate = sf.read(files["wav.scp"][utt])
            assert rate == 16000 and audio.ndim == 1 and len(audio) == 5 * 16000
            assert float(files["utt2dur"][utt]) == 5.0
            assert 0.05 < np.sqrt(np.mean(audio ** 2)) < 0.15  # levelled to -20 dBFS
    labels = read_list(root / "audio" / "labels" / "timbre.txt")
    assert labels == list(facts.TIMBRE_NAMES)


def test_key_label_is_music21s_krumhansl_analysis_of_the_clip(rendered):
    root, _ = rendered
    files = read_dir(root / "audio" / "test")
    for utt, source in files["utt2source"].items():
        chorale_id, shift, start = source.split()
        notes = read_midi(root / "chorales" / "midi" / f"{chorale_id}.mid",
                          EventConfig(steps_per_quarter=STEPS_PER_QUARTER))
        bpm = float(files["utt2bpm"][utt])
        length = int(np.ceil(5.0 * bpm / 60 * STEPS_PER_QUARTER))
        part = transpose(window_notes(notes, int(start.split("=")[1]) * STEPS_PER_QUARTER, length),
                         int(shift.split("=")[1]))
        key = analyze_key(part, STEPS_PER_QUARTER, "key.krumhansl")  # the chroma judge's profiles
        assert (facts.tonic_name(key.tonic.pitchClass, key.mode), key.mode) == (
            files["utt2key"][utt], files["utt2mode"][utt])
        # the synthetic pieces are plainly in C major / A minor: the label is that, transposed
        home = 0 if chorale_id.startswith("maj") else 9
        assert facts.tonic_pitch_class(files["utt2key"][utt]) == (home + int(shift.split("=")[1])) % 12
        assert files["utt2mode"][utt] == ("major" if chorale_id.startswith("maj") else "minor")


def test_bad_midi_is_named_and_skipped(rendered):
    root, report = rendered
    assert list(report["skipped"]) == ["broken"]
    assert "broken" in (root / "audio" / "skipped_render").read_text()
    assert not any(u.startswith("broken") for u in read_kaldi_map(root / "audio/test/wav.scp"))


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix != ".json"}


def test_same_seed_same_files_other_seed_other_clips(tmp_path):
    src = chorales_dir(tmp_path / "chorales")
    small = RenderConfig(clip_seconds=2.0, clips_per_chorale={"train": 2, "valid": 1, "test": 1})
    render(src, tmp_path / "a", small)
    render(src, tmp_path / "b", small)
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert {k: v for k, v in a.items() if k.endswith(".wav")} == {
        k: v for k, v in b.items() if k.endswith(".wav")}
    for name in ("text", "utt2key", "utt2source", "utt2bpm"):
        assert (tmp_path / "a/train" / name).read_text() == (tmp_path / "b/train" / name).read_text()
    small.seed = 1
    render(src, tmp_path / "c", small)
    assert (tmp_path / "c/train/utt2source").read_text() != (tmp_path / "a/train/utt2source").read_text()


def test_label_map_reads_any_fact_file(rendered):
    root, _ = rendered
    d = DataDir.load(root / "audio" / "train")
    timbres = d.label_map("utt2timbre")
    assert timbres == {u: [t] for u, t in read_kaldi_map(root / "audio/train/utt2timbre").items()}
    assert d.label_map("utt2nothing") is None
    with pytest.raises(ValueError, match="label file must be"):
        d.label_map("text")
    broken = root / "broken_dir"
    broken.mkdir()
    (broken / "wav.scp").write_text("a /x.wav\nb /y.wav\n")
    (broken / "utt2tempo").write_text("a slow\n")
    with pytest.raises(DataDirError, match="utt2tempo: 0 id.*1 utterance\\(s\\) missing"):
        DataDir.load(broken).label_map("utt2tempo")
