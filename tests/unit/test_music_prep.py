"""audiokit-prep chorales / maestro / music-tokens: the fixed split, bad input named and
skipped, the MAESTRO CSV layout on a fixture tree."""

from __future__ import annotations

import json

import pytest

from audiokit.cli.prep import main as prep
from audiokit.data.datadir import read_kaldi_map
from audiokit.music.chorales import prepare, split_of
from audiokit.music.events import EventConfig, decode
from audiokit.music.midi_io import read_midi, write_midi
from audiokit.music.notes import Note


def test_split_is_fixed_by_name():
    # SHA-1 buckets: a chorale's split never depends on the rest of the corpus
    assert [split_of(n) for n in ("bach/bwv269", "bach/bwv347", "bach/bwv14.5")] == \
        ["train", "train", "test"]


def test_chorales_unparsable_listed_and_skipped(tmp_path, caplog):
    report = prepare(tmp_path, names=["bach/bwv269", "bach/no_such_chorale"])
    assert report["pieces"] == {"train": 1, "valid": 0, "test": 0}
    assert "bach/no_such_chorale" in report["skipped"]
    assert "bach/no_such_chorale does not parse" in (tmp_path / "skipped").read_text()
    assert "no_such_chorale" in caplog.text
    (path,) = read_kaldi_map(tmp_path / "train" / "midi.scp").values()
    assert len(read_midi(path, EventConfig())) == report["notes"] == 300  # repeats written out


def test_chorales_and_tokens_cli(tmp_path, capsys):
    prep(["chorales", "--out", str(tmp_path), "--limit", "1"])
    for split in ("train", "valid", "test"):
        assert len(read_kaldi_map(tmp_path / split / "midi.scp")) == 1
    prep(["music-tokens", *(str(tmp_path / s) for s in ("train", "valid", "test")),
          "--token-dir", str(tmp_path / "tok")])
    meta = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    assert meta["kind"] == "word" and meta["events"]["steps_per_quarter"] == 4
    assert len((tmp_path / "tok" / "tokens.txt").read_text().split()) == 2 + 256 + 16 + 1
    (pid, events), = read_kaldi_map(tmp_path / "test" / "events").items()
    midi = read_kaldi_map(tmp_path / "test" / "midi.scp")[pid]
    assert decode(events.split(), EventConfig()) == read_midi(midi, EventConfig())


def test_music_tokens_bad_midi(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_midi([Note(0, 4, 60)], tmp_path / "ok.mid", EventConfig())
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    (d / "midi.scp").write_text(f"ok {tmp_path / 'ok.mid'}\nbad {tmp_path / 'bad.mid'}\n")
    with pytest.raises(SystemExit, match="piece 'bad'.*bad.mid"):
        prep(["music-tokens", str(d), "--token-dir", str(tmp_path / "tok")])
    prep(["music-tokens", str(d), "--token-dir", str(tmp_path / "tok"), "--on-bad-midi", "skip"])
    assert list(read_kaldi_map(d / "events")) == ["ok"]
    assert (d / "skipped_midi").read_text().startswith("bad ")


def write_maestro(root, rows):
    lines = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for split, rel, notes in rows:
        if notes is not None:
            write_midi(notes, root / rel, EventConfig(steps_per_quarter=None, step_seconds=0.01),
                       bpm=120)
        lines.append(f'Bach,"Prelude, No. 1",{split},2018,{rel},{rel[:-5]}.wav,1.0')
    (root / "maestro-v3.0.0.csv").write_text("\n".join(lines) + "\n")


def test_maestro_layout(tmp_path):
    root = tmp_path / "maestro"
    notes = [Note(0, 50, 60, 100), Note(30, 120, 64, 40)]
    write_maestro(root, [("train", "2018/a.midi", notes), ("validation", "2018/b.midi", notes),
                         ("test", "2017/c.midi", notes), ("train", "2017/gone.midi", None)])
    with pytest.raises(SystemExit, match="gone.midi: no such MIDI file"):
        prep(["maestro", "--root", str(root), "--out", str(tmp_path / "data")])
    prep(["maestro", "--root", str(root), "--out", str(tmp_path / "data"), "--skip-missing"])
    data = tmp_path / "data"
    assert list(read_kaldi_map(data / "train" / "midi.scp")) == ["2018_a"]
    assert list(read_kaldi_map(data / "valid" / "midi.scp")) == ["2018_b"]
    assert (data / "skipped").read_text() == "2017/gone.midi missing\n"
    # the piano grid: 10 ms steps, 32 velocity bins (the Music Transformer's 388 events)
    prep(["music-tokens", *(str(data / s) for s in ("train", "valid", "test")), "--token-dir",
          str(data / "tok"), "--step-ms", "10", "--max-shift", "100", "--velocity-bins", "32"])
    assert len((data / "tok" / "tokens.txt").read_text().split()) == 388 + 3
    events = read_kaldi_map(data / "test" / "events")["2017_c"].split()
    cfg = EventConfig(100, 32, None, 0.01)
    assert [(n.start, n.end, n.pitch) for n in decode(events, cfg)] == [(0, 50, 60), (30, 120, 64)]
