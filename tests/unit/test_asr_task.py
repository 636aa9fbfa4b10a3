"""ASRTask on awkward batches: too-short audio, empty transcripts, words outside the token
list, and a real learning check; Speech2Text decoding modes agree on a trained toy model."""

from __future__ import annotations

import logging

import pytest
import torch

from audiokit.data.datamodule import warn_unknown_pieces
from audiokit.tasks.asr import ASRTask
from audiokit.text.tokenizer import tokenizer_from_spec, train_tokenizer

WORDS = "zero one two three four five six seven eight nine".split()


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return train_tokenizer("word", [" ".join(WORDS)], tmp_path_factory.mktemp("tok"))


def make_task(spec, ctc_weight=0.3, decoder=True) -> ASRTask:
    torch.manual_seed(0)
    model = {"_target_": "audiokit.models.asr.ASRModel",
             "encoder": {"_target_": "audiokit.models.asr.ConformerEncoder", "d_model": 32,
                         "num_heads": 2, "ffn_dim": 64, "num_blocks": 1, "kernel_size": 3,
                         "dropout": 0.0, "attention_dropout": 0.0, "positional_dropout": 0.0},
             "decoder": {"_target_": "audiokit.models.asr.TransformerDecoder", "d_model": 32,
                         "num_heads": 2, "ffn_dim": 64, "num_blocks": 1, "dropout": 0.0}
             if decoder else None}
    return ASRTask(
        tokenizer=spec,
        frontend={"_target_": "audiokit.frontends.LogMel", "sample_rate": 8000, "n_mels": 20},
        model=model,
        loss={"_target_": "audiokit.losses.HybridCTCAttentionLoss", "ctc_weight": ctc_weight},
        optim={"_target_": "torch.optim.Adam", "lr": 3e-3},
        decoding={"mode": "joint", "beam": 4})


def batch(texts, seconds):
    audio = torch.zeros(len(texts), int(max(seconds) * 8000))
    lens = torch.tensor([int(s * 8000) for s in seconds])
    for i, n in enumerate(lens.tolist()):
        audio[i, :n] = 0.1 * torch.randn(n)
    return {"ids": [f"utt{i}" for i in range(len(texts))], "audio": audio, "audio_lens": lens,
            "text": texts}


def test_too_short_utterance_is_left_out_and_named(spec, caplog):
    task = make_task(spec)
    with caplog.at_level(logging.WARNING):
        parts, enc, ids, texts, _ = task._step(batch(["one two", "three"], [1.0, 0.05]), augment=True)
    assert ids == ["utt0"] and torch.isfinite(parts["loss"])
    assert "utt1: 3 feature frames, fewer than the 7 the encoder needs" in caplog.text
    # a batch of nothing but too-short audio is skipped, not crashed on
    assert task.training_step(batch(["one"], [0.04]), 0) is None


def test_empty_transcript_and_too_many_tokens_give_finite_loss(spec, caplog):
    task = make_task(spec)
    many = " ".join(WORDS * 3)           # 30 tokens into ~12 encoder frames: CTC impossible
    with caplog.at_level(logging.WARNING):
        parts, *_ = task._step(batch(["", many, "four"], [0.5, 0.5, 0.5]), augment=False)
    assert all(torch.isfinite(v) for v in parts.values())
    assert "utt1: 11 encoder frames cannot hold 30 tokens" in caplog.text
    parts["loss"].backward()


def test_words_outside_the_token_list_become_unk_and_are_counted(spec, caplog):
    tok = tokenizer_from_spec(spec)
    assert tok.encode("one eleven two") == [tok.tokens.index("one"), tok.unk_id, tok.tokens.index("two")]
    with caplog.at_level(logging.WARNING):
        n = warn_unknown_pieces(tok, {"a": "one eleven", "b": "two", "c": "twelve thirteen"},
                                "data/train/text", "tokens/")
    assert n == 3
    assert "3 piece(s) in 2 utterance(s) are not in the token list" in caplog.text


def test_attention_without_decoder_is_a_clear_error(spec):
    with pytest.raises(ValueError, match="model.decoder is null"):
        make_task(spec, ctc_weight=0.3, decoder=False)


def test_overfits_two_utterances_and_every_mode_transcribes_them(spec):
    """Learning check: a tiny model memorises two utterances; greedy CTC, attention and joint
    search (batched, through Speech2Text) all return the references."""
    from audiokit.inference.speech2text import Speech2Text

    task = make_task(spec)
    b = batch(["one two three", "nine"], [0.8, 0.6])
    opt = torch.optim.Adam(task.parameters(), 3e-3)
    task.train()
    for _ in range(150):
        parts, *_ = task._step(b, augment=False)
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
    task.eval()
    for mode in ("ctc_greedy", "ctc_beam", "attention", "joint"):
        s2t = Speech2Text(task, 8000, decoding={"mode": mode})
        hyps = s2t.transcribe_batch(b["audio"], b["audio_lens"])
        assert [h[0].text for h in hyps] == b["text"], mode
    assert Speech2Text(task, 8000)(b["audio"][1, : b["audio_lens"][1]]) == "nine"
    with pytest.raises(ValueError, match="unknown decoding option"):
        Speech2Text(task, 8000, decoding={"beem": 3})
