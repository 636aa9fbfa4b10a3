"""audiokit-score task=asr on tiny text files: report.json, errors.txt, RESULTS.md (and cls still)."""

from __future__ import annotations

import json

import pytest

from audiokit.cli.score import main as score_main

REF = ("u1 the cat sat\n"
       "u2 Hello, World!\n"
       "u3\n"                 # silence: an utterance with no words
       "u4 a b c d\n")
HYP = ("u1 the cat sit\n"
       "u2 hello world\n"
       "u3 uh\n"
       "u4 a  b c d\n")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "ref").write_text(REF)
    for name in ("test_ctc_greedy", "test_attention"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "text").write_text(HYP)
    return tmp_path


def test_score_asr_report_and_results(files, capsys):
    exp = files / "exp"
    score_main(["task=asr", f"ref={files}/ref", f"hyp={files}/test_ctc_greedy/text", f"exp_dir={exp}"])
    out = capsys.readouterr().out
    # normalised (default): u1 one substitution; u3 one insertion; u2, u4 correct.
    # CER: 1 + 2 errors over 11 + 11 + 0 + 7 characters (spaces counted)
    assert "audiokit-score test_ctc_greedy: WER 22.22 %, CER 10.34 % (S.Err 50.00 %) (4 utts)" in out
    r = json.loads((exp / "scores/test_ctc_greedy/report.json").read_text())
    assert r["task"] == "asr" and r["num_utts"] == 4
    assert r["wer"] == pytest.approx(2 / 9) and r["cer"] == pytest.approx(3 / 29)
    assert r["ser"] == pytest.approx(0.5)
    assert r["word"]["counts"] == {"hits": 8, "sub": 1, "del": 0, "ins": 1, "errors": 2,
                                   "sentence_errors": 2}
    assert (r["word"]["snt"], r["word"]["wrd"], r["char"]["wrd"]) == (4, 9, 29)
    assert r["normalization"]["lowercase"] and r["normalization"]["remove_punctuation"]

    errors = (exp / "scores/test_ctc_greedy/errors.txt").read_text()
    assert "the 2 of 4 utterances with errors" in errors
    assert "id: (u1)\nScores: (#C #S #D #I) 2 1 0 0\nREF:  the cat sat\nHYP:  the cat sit\n" in errors
    assert "id: (u3)" in errors and "HYP:  uh" in errors and "id: (u4)" not in errors

    # the same hypotheses scored as they are: Hello, / World! are two more substitutions;
    # CER 1 + 4 + 2 errors over 11 + 13 + 0 + 7 characters
    score_main(["task=asr", f"ref={files}/ref", f"hyp={files}/test_attention/text", f"exp_dir={exp}",
                "normalize=false"])
    r = json.loads((exp / "scores/test_attention/report.json").read_text())
    assert (r["wer"], r["cer"], r["ser"]) == pytest.approx((4 / 9, 7 / 31, 0.75))
    assert r["normalization"] is None

    md = (exp / "RESULTS.md").read_text()
    assert ("| set | WER | CER | S.Err |\n|---|---|---|---|\n"
            "| test_attention | 44.44 | 22.58 | 75.00 |\n"
            "| test_ctc_greedy | 22.22 | 10.34 | 50.00 |\n") in md
    assert md.index("## ASR overview") < md.index("## test_attention") < md.index("## test_ctc_greedy")
    assert "| WER (words) | 4 | 9 | 88.9 | 11.1 | 0.0 | 11.1 | 22.2 | 50.0 |" in md
    assert "| CER (chars) | 4 | 29 | 96.6 | 3.4 | 0.0 | 6.9 | 10.3 | 50.0 |" in md
    assert "[scores/test_ctc_greedy/errors.txt](scores/test_ctc_greedy/errors.txt)" in md


def test_score_asr_remove_tokens_and_bad_input(files, capsys):
    score_main(["task=asr", f"ref={files}/ref", f"hyp={files}/test_ctc_greedy/text",
                "remove_tokens=[uh]"])
    assert "WER 11.11 %" in capsys.readouterr().out  # only u1's substitution is left
    (files / "short").write_text("u1 the cat sat\n")
    with pytest.raises(SystemExit, match="3 reference utterance"):
        score_main(["task=asr", f"ref={files}/ref", f"hyp={files}/short"])
    (files / "dup").write_text("u1 a\nu1 b\n")
    with pytest.raises(SystemExit, match="dup:2: duplicate id 'u1'"):
        score_main(["task=asr", f"ref={files}/dup", f"hyp={files}/short"])
    with pytest.raises(SystemExit, match="no such file"):
        score_main(["task=asr", f"ref={files}/missing", f"hyp={files}/short"])


def test_score_cls_still_works(tmp_path, capsys):
    (tmp_path / "ref").write_text("a one\nb two\nc one\n")
    (tmp_path / "hyp").write_text("a one\nb one\nc one\n")
    score_main(["task=cls", f"ref={tmp_path}/ref", f"hyp={tmp_path}/hyp", f"exp_dir={tmp_path}/exp",
                "name=test"])
    assert "audiokit-score test: accuracy 66.67 %, macro_f1 40.00 % (3 utts)" in capsys.readouterr().out
    md = (tmp_path / "exp/RESULTS.md").read_text()
    assert "| accuracy | 66.67 % |" in md and "ASR overview" not in md
