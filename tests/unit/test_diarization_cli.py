"""audiokit-prep conversations / fsdd-conversations and audiokit-score task=diar on real FSDD."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiokit.cli.prep import main as prep_main
from audiokit.cli.score import main as score_main
from audiokit.data.datadir import DataDir, read_kaldi_map
from audiokit.data.rttm import Turn, read_rttm, write_rttm
from audiokit.metrics.diarization import diarization_error


@pytest.fixture(scope="module")
def conversations(tiny_fsdd, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "conv_test"
    prep_main([
        "conversations", str(tiny_fsdd / "test"), "--out", str(out), "-n", "4",
        "--speakers", "2", "--beta", "0.4", "--mode", "turns", "--overlap-prob", "0.4",
        "--utts-per-speaker", "3:4", "--seed", "0"])
    return out


def test_conversations_of_real_audio(conversations, capsys):
    d = DataDir.load(conversations)
    turns = read_rttm(conversations / "rttm")
    assert len(d) == 4 and set(turns) == set(d.wav_scp)
    assert all(read_kaldi_map(conversations / "reco2num_spk")[r] == "2" for r in d.wav_scp)
    meta = json.loads((conversations / "conversations.json").read_text())
    assert meta["mode"] == "turns" and meta["beta"] == 0.4 and meta["sample_rate"] == 8000
    for reco, path in d.wav_scp.items():
        audio, _ = sf.read(path)
        active = np.zeros(len(audio), dtype=bool)
        for t in turns[reco]:
            active[round(t.start * 8000): round(t.end * 8000)] = True
            assert np.sqrt(np.mean(audio[round(t.start * 8000): round(t.end * 8000)] ** 2)) > 1e-3
        active = np.convolve(active, np.ones(17), mode="same") > 0  # RTTM's 1 ms grid
        assert np.abs(audio[~active]).max(initial=0) < 1e-3  # no noise asked for: silence


def test_score_diar_writes_report_and_results(conversations, tmp_path, capsys):
    ref = read_rttm(conversations / "rttm")
    # a hypothesis with other labels, one turn dropped and one boundary 0.1 s late
    hyp = {}
    for k, (reco, turns) in enumerate(sorted(ref.items())):
        names = {s: f"spk{i}" for i, s in enumerate(sorted({t.speaker for t in turns}))}
        hyp[reco] = [Turn(t.start + (0.1 if j == 0 else 0.0), t.end, names[t.speaker])
                     for j, t in enumerate(turns) if not (k == 0 and j == 1)]
    (tmp_path / "infer").mkdir()
    write_rttm(tmp_path / "infer" / "rttm", hyp)
    exp = tmp_path / "exp"
    score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={tmp_path / 'infer' / 'rttm'}",
                f"exp_dir={exp}", "collars=[0.25,0]"])
    printed = capsys.readouterr().out
    assert "collar 0 s: DER" in printed and "warning: collar 0.25 s" in printed
    report = json.loads((exp / "scores" / "infer" / "report.json").read_text())
    assert report["task"] == "diar" and report["num_recordings"] == 4
    expected = diarization_error(read_rttm(conversations / "rttm"),
                                 read_rttm(tmp_path / "infer" / "rttm"), 0.0)
    no_collar = report["collars"][1]
    assert no_collar["collar"] == 0 and no_collar["der"] == pytest.approx(expected["der"])
    assert no_collar["missed"] > 0 and no_collar["confusion"] == pytest.approx(0, abs=1e-6)
    csv = (exp / "scores" / "infer" / "per_recording.csv").read_text().splitlines()
    assert csv[0].startswith("recording,collar,der") and len(csv) == 1 + 2 * 4
    results = (exp / "RESULTS.md").read_text()
    assert "| collar (s) | DER |" in results and "per_recording.csv" in results
    assert report["region"] == "reference" and "[scored region: reference]" in printed
    assert "Scored region: `reference`" in results


def test_score_diar_region(conversations, tmp_path, capsys):
    """An extra hypothesis turn after each reference ends: not scored in md-eval's region (the
    reference's extent), false alarm in the union's."""
    ref = read_rttm(conversations / "rttm")
    ends = {reco: max(t.end for t in turns) for reco, turns in ref.items()}
    hyp = {reco: [*turns, Turn(ends[reco] + 0.5, ends[reco] + 1.5, turns[0].speaker)]
           for reco, turns in ref.items()}
    write_rttm(tmp_path / "hyp.rttm", hyp)
    reports = {}
    for region in ("reference", "union"):
        exp = tmp_path / region
        score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={tmp_path / 'hyp.rttm'}",
                    f"exp_dir={exp}", "collars=[0]", f"region={region}", "name=test"])
        reports[region] = json.loads((exp / "scores/test/report.json").read_text())
        assert reports[region]["region"] == region
        assert f"Scored region: `{region}`" in (exp / "RESULTS.md").read_text()
    assert reports["reference"]["collars"][0]["der"] == pytest.approx(0, abs=1e-6)
    union = reports["union"]["collars"][0]
    assert union["false_alarm_s"] == pytest.approx(4 * 1.0)
    assert union["der"] == pytest.approx(100 * 4 / union["total_s"])
    with pytest.raises(SystemExit, match="region must be one of reference, union"):
        score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={tmp_path / 'hyp.rttm'}",
                    "region=hyp"])


def test_score_diar_missing_recording_is_named(conversations, tmp_path):
    ref = read_rttm(conversations / "rttm")
    first = sorted(ref)[0]
    write_rttm(tmp_path / "rttm", {r: t for r, t in ref.items() if r != first})
    with pytest.raises(SystemExit, match=first):
        score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={tmp_path / 'rttm'}"])
    score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={tmp_path / 'rttm'}",
                "missing=miss"])
    bad = tmp_path / "bad.rttm"
    bad.write_text("SPEAKER r 1 0.0 -1 <NA> <NA> a <NA> <NA>\n")
    with pytest.raises(SystemExit, match=f"{bad}:1"):
        score_main(["task=diar", f"ref={conversations / 'rttm'}", f"hyp={bad}"])


def test_fsdd_conversations_splits(fsdd_root, tmp_path, capsys):
    args = ["fsdd-conversations", "--root", str(fsdd_root), "--train-index", "10:12",
            "--valid-index", "5:6", "--test-index", "0:1", "--train-count", "3",
            "--valid-count", "2", "--test-count", "2"]
    prep_main([*args, "--out", str(tmp_path / "a")])
    printed = capsys.readouterr().out
    assert "overlap ratio" in printed
    for name, count, (lo, hi) in (("train", 3, (10, 12)), ("valid", 2, (5, 6)),
                                  ("test", 2, (0, 1))):
        d = DataDir.load(tmp_path / "a" / name)
        assert len(d) == count and set(read_rttm(tmp_path / "a" / name / "rttm")) == set(d.wav_scp)
        meta = json.loads((tmp_path / "a" / name / "conversations.json").read_text())
        assert meta["index_range"] == [lo, hi] and meta["mode"] == "turns"
        sources = [p[0] for c in meta["conversations"].values() for p in c["placements"]]
        assert all(lo <= int(u.split("_")[2]) < hi for u in sources)
        assert all(c["snr_db"] is not None for c in meta["conversations"].values())
    prep_main([*args, "--out", str(tmp_path / "b")])  # deterministic
    for name in ("train", "valid", "test"):
        assert ((tmp_path / "a" / name / "rttm").read_text()
                == (tmp_path / "b" / name / "rttm").read_text())
