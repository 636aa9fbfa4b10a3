"""audiokit.music.t2m_table: one row per scored t2m set, adherence in % and FDs per judge."""

from __future__ import annotations

import json

import pytest

from audiokit.music.t2m_table import main, write_t2m_table
from audiokit.utils.errors import UserError


def _report(exp, name, adherence, fd, task="t2m"):
    d = exp / "scores" / name
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(
        {"task": task, "name": name, "num_utts": 102, "adherence": adherence,
         "frechet_distance": fd}))


def test_one_row_per_scored_set(tmp_path, capsys):
    _report(tmp_path, "real_test", {"timbre": 1.0, "tempo": 0.8431, "key": 0.8922, "mode": 0.9706,
                                    "tonic": 0.9}, {"timbre": 8.19809, "tempo": 5.9617})
    _report(tmp_path, "codec_lm_cfg3", {"timbre": 0.5, "tempo": 0.25, "key": 0.0, "mode": 0.125},
            {"timbre": 20.0})
    _report(tmp_path, "codec_x", {}, {}, task="codec")        # not a t2m report: left out
    assert main([str(tmp_path)]) == 0
    lines = (tmp_path / "t2m_table.md").read_text().splitlines()
    assert lines == [
        "| row | clips | timbre | tempo | key | mode | FD tempo | FD timbre |",
        "|---|---|---|---|---|---|---|---|",
        "| codec_lm_cfg3 | 102 | 50.0 % | 25.0 % | 0.0 % | 12.5 % |  | 20.000 |",
        "| real_test | 102 | 100.0 % | 84.3 % | 89.2 % | 97.1 % | 5.962 | 8.198 |"]
    assert "wrote" in capsys.readouterr().out
    # named rows, in the order asked
    write_t2m_table(tmp_path, ["real_test", "codec_lm_cfg3"])
    assert (tmp_path / "t2m_table.md").read_text().splitlines()[2].startswith("| real_test |")
    with pytest.raises(UserError, match="no t2m report"):
        write_t2m_table(tmp_path, ["codec_lm_cfg9"])
    with pytest.raises(UserError, match="no audiokit-score task=t2m report"):
        write_t2m_table(tmp_path / "empty")
