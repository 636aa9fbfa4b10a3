"""Transformer LM: causality, cached step() vs forward, the LM task's loss and exact
perplexity, a short training run on a digit-word grammar, token batching over ranks, and
model.pt export + load for fusion."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from audiokit.models.lm import TransformerLM

WORDS = "zero one two three four five six seven eight nine".split()


def small_lm(vocab: int = 13, **kw) -> TransformerLM:
    torch.manual_seed(0)
    args = {"d_model": 32, "num_heads": 4, "ffn_dim": 64, "num_layers": 2, "dropout": 0.0} | kw
    return TransformerLM(vocab, **args).eval()


def counting_sentences(n: int, seed: int) -> list[str]:
    """'three four five': a random start digit, then 1-4 following digits (mod 10)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        start, length = rng.randrange(10), rng.randint(2, 5)
        out.append(" ".join(WORDS[(start + i) % 10] for i in range(length)))
    return out


def write_text(path: Path, sentences: list[str], prefix: str) -> Path:
    path.write_text("".join(f"{prefix}{i:04d} {s}\n" for i, s in enumerate(sentences)))
    return path


@pytest.fixture(scope="module")
def word_spec(tmp_path_factory) -> dict:
    from audiokit.text.tokenizer import train_tokenizer

    return train_tokenizer("word", WORDS, tmp_path_factory.mktemp("tokens"))


@pytest.fixture(scope="module")
def digit_data(tmp_path_factory) -> dict[str, Path]:
    from audiokit.text.tokenizer import train_tokenizer

    root = tmp_path_factory.mktemp("lm_data")
    token_dir = root / "tokens"
    train_tokenizer("word", WORDS, token_dir)
    return {"train": write_text(root / "train_text", counting_sentences(400, 0), "tr"),
            "valid": write_text(root / "valid_text", counting_sentences(100, 1), "va"),
            "token_dir": token_dir}


def make_task(spec: dict, **model_kw):
    from audiokit.tasks.lm import LMTask

    torch.manual_seed(0)
    model = {"_target_": "audiokit.models.lm.TransformerLM", "d_model": 32, "num_heads": 4,
             "ffn_dim": 64, "num_layers": 2, "dropout": 0.0} | model_kw
    return LMTask(tokenizer=spec, model=model, optim={"_target_": "torch.optim.Adam", "lr": 3e-3},
                  loss={"_target_": "torch.nn.CrossEntropyLoss", "label_smoothing": 0.0})


# ---- the model -------------------------------------------------------------------------


def test_changing_a_future_token_leaves_earlier_logits_alone():
    lm = small_lm()
    ys = torch.randint(0, 13, (3, 12))
    changed = ys.clone()
    changed[:, 7] = (ys[:, 7] + 1) % 13
    a, b = lm(ys, torch.full((3,), 12)), lm(changed, torch.full((3,), 12))
    assert a.shape == (3, 12, 13)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert (a[:, 7:] - b[:, 7:]).abs().amax(-1).min() > 1e-4  # and every later one changes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_step_matches_forward_on_random_prefixes(seed):
    lm = small_lm(num_layers=3)
    g = torch.Generator().manual_seed(seed)
    ys = torch.randint(0, 12, (5, 9), generator=g)
    ys[:, 0] = 12  # sos
    state = None
    with torch.no_grad():
        for t in range(1, ys.shape[1] + 1):
            logp, state = lm.step(ys[:, :t], state)
            expected = lm(ys[:, :t]).log_softmax(-1)[:, -1]
            torch.testing.assert_close(logp, expected, atol=1e-5, rtol=1e-5)
            # without a cache: the whole prefix in one go
            torch.testing.assert_close(lm.step(ys[:, :t], None)[0], expected, atol=1e-5, rtol=1e-5)
            assert all(k.shape[:3] == (5, 4, t) for k, _ in state)
        assert torch.allclose(logp.exp().sum(-1), torch.ones(5))


def test_cache_survives_beam_reordering():
    """Beam search reorders hypotheses with index_select(0) on every tensor of the state."""
    lm = small_lm()
    ys = torch.tensor([[12, 3, 4], [12, 5, 6], [12, 7, 8]])
    with torch.no_grad():
        _, state = lm.step(ys, None)
        order = torch.tensor([2, 2, 0])
        state = [(k.index_select(0, order), v.index_select(0, order)) for k, v in state]
        grown = torch.cat([ys[order], torch.tensor([[9], [1], [2]])], dim=1)
        logp, _ = lm.step(grown, state)
        torch.testing.assert_close(logp, lm(grown).log_softmax(-1)[:, -1], atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="exactly one token"):
            lm.step(grown[:, :3], state)


# ---- the task --------------------------------------------------------------------------


def test_inputs_and_targets(word_spec):
    from audiokit.tasks.lm import IGNORE, lm_io

    tokens = torch.tensor([[5, 6, 7], [8, 99, 99]])  # second sentence: 1 token + padding
    ys_in, target = lm_io(tokens, torch.tensor([3, 1]), sos=12, eos=12)
    assert ys_in[0].tolist() == [12, 5, 6, 7] and ys_in[1, :2].tolist() == [12, 8]
    assert target.tolist() == [[5, 6, 7, 12], [8, 12, IGNORE, IGNORE]]


def test_padding_is_ignored_in_the_loss(word_spec):
    task = make_task(word_spec)
    task.eval()
    task.log = lambda *args, **kw: None
    tok = task.tokenizer
    sentences = [tok.encode("one two three four"), tok.encode("five")]
    padded = torch.tensor([sentences[0], sentences[1] + [7, 7, 7]])
    lens = torch.tensor([4, 1])
    with torch.no_grad():
        loss = task.training_step({"tokens": padded, "token_lens": lens}, 0)
        other_pad = padded.clone()
        other_pad[1, 1:] = 3
        assert task.training_step({"tokens": other_pad, "token_lens": lens}, 0) == loss
        # the batch loss is the mean over its 5 + 2 real targets, sentence by sentence
        nll = 0.0
        for s in sentences:
            logits = task.model(torch.tensor([[tok.sos_id] + s]), None)[0]
            nll += F.cross_entropy(logits, torch.tensor(s + [tok.eos_id]), reduction="sum")
    torch.testing.assert_close(loss, nll / 7)


def test_validation_perplexity_is_exact_over_batches_and_ranks(word_spec):
    task = make_task(word_spec)
    task.eval()
    tok = task.tokenizer
    logged = {}
    task.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    sents = [tok.encode(s) for s in counting_sentences(7, 3)]

    def batch(group):
        tokens = torch.zeros(len(group), max(map(len, group)), dtype=torch.long)
        for i, s in enumerate(group):
            tokens[i, : len(s)] = torch.tensor(s)
        return {"tokens": tokens, "token_lens": torch.tensor([len(s) for s in group])}

    # "rank 1" sees sentence 6 alone; this rank sees batches of 1, 2 and 3 sentences
    with torch.no_grad():
        task.validation_step(batch(sents[6:]), 0)
        other_rank = task._valid_totals.clone()
        task._valid_totals.zero_()
        for i, group in enumerate([sents[:1], sents[1:3], sents[3:6]]):
            task.validation_step(batch(group), i)
        task.all_gather = lambda x: torch.stack([x, other_rank])
        task.on_validation_epoch_end()
        # by hand: -log p(token | prefix) for every target token, one sentence at a time
        nll, count = 0.0, 0
        for s in sents:
            ys = [tok.sos_id] + s
            for t, target in enumerate(s + [tok.eos_id]):
                logp = task.model(torch.tensor([ys[: t + 1]]), None)[0, -1].log_softmax(-1)
                nll -= float(logp[target])
                count += 1
    assert logged["valid/loss"] == pytest.approx(nll / count, rel=1e-5)
    assert logged["valid/ppl"] == pytest.approx(math.exp(nll / count), rel=1e-5)
    assert task._valid_totals.sum() == 0  # reset for the next epoch


def test_short_training_learns_the_grammar(digit_data):
    import lightning.pytorch as pl

    from audiokit.data.text_datamodule import TextDataModule

    dm = TextDataModule(str(digit_data["train"]), str(digit_data["valid"]),
                        str(digit_data["token_dir"]), max_batch_tokens=300)
    task = make_task(dm.task_kwargs()["tokenizer"], d_model=64, ffn_dim=128)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=8, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)
    before = trainer.validate(task, datamodule=dm, verbose=False)[0]["valid/ppl"]
    trainer.fit(task, datamodule=dm)
    after = float(trainer.callback_metrics["valid/ppl"])
    # 13 ids: uniform ppl 13; word frequencies alone (a unigram model) give ~10. The grammar
    # has ln 10 (start) + ln 4 (length) nats per sentence over 4.5 targets on average: a
    # perfect model reaches exp(3.69 / 4.5) = 2.27.
    assert before > 8.0 and trainer.global_step >= 40
    assert after < 2.8, f"valid perplexity {after:.2f} after training (before: {before:.2f})"


# ---- data ------------------------------------------------------------------------------


def test_batches_cover_each_sentence_once_per_epoch_over_two_ranks(digit_data):
    from audiokit.data.text_datamodule import TextDataModule

    dm = TextDataModule([str(digit_data["train"]), str(digit_data["valid"])],
                        str(digit_data["valid"]), str(digit_data["token_dir"]),
                        max_batch_tokens=50)
    dm.setup("fit")
    all_ids = sorted(dm.train_set.ids)
    assert len(all_ids) == 500
    orders = []
    for epoch in (0, 1):
        seen, counts = [], []
        for rank in (0, 1):
            loader = dm.loader(dm.train_set, shuffle=True, num_replicas=2, rank=rank)
            loader.batch_sampler.set_epoch(epoch)
            batches = list(loader)
            counts.append(len(batches))
            for b in batches:
                assert b["tokens"].shape[0] * (b["tokens"].shape[1] + 1) <= 50
                assert (b["token_lens"] == torch.tensor(
                    [len(dm.train_set.tokens[dm.train_set.ids.index(i)]) for i in b["ids"]])).all()
                seen += b["ids"]
        assert sorted(seen) == all_ids and counts[0] == counts[1]
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled between epochs


def test_plain_lines_and_unknown_words_warning(tmp_path, word_spec, caplog):
    from audiokit.data.text_datamodule import TextDataModule
    from audiokit.text.tokenizer import train_tokenizer

    train_tokenizer("word", WORDS, tmp_path / "tokens")
    text = tmp_path / "corpus.txt"
    text.write_text("one two\n\nthree eleven four\ntwelve\n")
    dm = TextDataModule(str(text), str(text), str(tmp_path / "tokens"), text_format="lines")
    with caplog.at_level(logging.WARNING):
        dm.setup("validate")
    assert dm.valid_set.ids == ["corpus.txt:1", "corpus.txt:3", "corpus.txt:4"]
    warnings = [r.getMessage() for r in caplog.records if "<unk>" in r.getMessage()]
    assert len(warnings) == 1
    assert "2 of 6 tokens in 2 of 3 sentences" in warnings[0] and "eleven" in warnings[0]
    with pytest.raises(ValueError, match="text_format"):
        TextDataModule(str(text), str(text), str(tmp_path / "tokens"), text_format="csv")


# ---- config, export and loading for fusion ---------------------------------------------


def test_experiment_config_builds_and_exported_lm_loads(digit_data, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    from audiokit.cli.train import CONF_DIR, build_task, export_model
    from audiokit.inference.loading import load_task
    from audiokit.tasks.lm import LMTask

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=lm/fsdd_transformer", f"exp_dir={tmp_path}",
            f"data.train_text={digit_data['train']}", f"data.valid_text={digit_data['valid']}",
            f"paths.token_dir={digit_data['token_dir']}"])
    GlobalHydra.instance().clear()
    dm = instantiate(cfg.data)
    task = build_task(cfg, dm.task_kwargs())
    assert isinstance(task, LMTask) and task.frontend is None
    assert task.model.d_model == cfg.model.d_model == 128

    (tmp_path / "config.yaml").write_text("{}\n")
    export_model(SimpleNamespace(checkpoint_callback=None), task, tmp_path)
    loaded, _ = load_task(tmp_path)
    ys = torch.tensor([[task.tokenizer.sos_id, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.step(ys, None)[0], task.eval().model.step(ys, None)[0])
    assert loaded.tokenizer.tokens == task.tokenizer.tokens
