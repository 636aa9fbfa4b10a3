"""Whisper-style model: special tokens and prompt, OpenAI checkpoint format, decoding rules,
log-mel frontend against Whisper's recipe, and the task's training and inference."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torchaudio.functional import melscale_fbanks

from audiokit.frontends.whisper_logmel import WhisperLogMel
from audiokit.models.whisper import (
    CheckpointError,
    DecodingOptions,
    Whisper,
    WhisperVocab,
    decode,
    detect_language,
    load_openai_checkpoint,
    save_openai_checkpoint,
)
from audiokit.models.whisper.decoding import apply_timestamp_rules
from audiokit.models.whisper.tokens import IGNORE_INDEX, OPENAI_LANGUAGES
from audiokit.tasks.whisper import WhisperTask
from audiokit.text.tokenizer import CharTokenizer, tokenizer_from_spec

torch.set_num_threads(1)

# OpenAI's tiny dims, with a vocabulary of the multilingual size
TINY = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
            n_vocab=51865, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def char_spec() -> dict:
    letters = sorted(set("".join(DIGITS)))
    return CharTokenizer(["<blank>", "<unk>", "<space>", *letters, "<sos/eos>"]).spec()


def small_model(n_vocab: int, n_mels: int = 80, ctx: int = 100, seed: int = 0) -> Whisper:
    torch.manual_seed(seed)
    return Whisper(n_mels=n_mels, n_audio_ctx=ctx, n_audio_state=32, n_audio_head=4,
                   n_audio_layer=2, n_vocab=n_vocab, n_text_ctx=32, n_text_state=32,
                   n_text_head=4, n_text_layer=2)


# ---------------------------------------------------------------- tokens and prompt

def test_openai_special_token_ids():
    multi = WhisperVocab.for_openai(51865)
    assert (multi.eot, multi.sot, multi.language_token("en"), multi.language_token("zh")) == (
        50257, 50258, 50259, 50260)
    assert (multi.translate, multi.transcribe, multi.sot_lm, multi.sot_prev) == (
        50358, 50359, 50360, 50361)
    assert (multi.no_speech, multi.no_timestamps, multi.timestamp_begin) == (50362, 50363, 50364)
    assert multi.timestamp_token(1.0) == 50414 and multi.token_time(50414) == 1.0
    assert multi.timestamp_token(30.0) == 51864 == multi.n_vocab - 1
    assert multi.prompt("de", "translate") == [50258, 50261, 50358, 50363]
    english = WhisperVocab.for_openai(51864)  # English-only: no language or task token
    assert (english.eot, english.sot, english.no_timestamps) == (50256, 50257, 50362)
    assert english.prompt() == [50257, 50362]
    v3 = WhisperVocab.for_openai(51866)
    assert len(v3.languages) == 100 and v3.language_token("yue") == 50358
    assert len(OPENAI_LANGUAGES) == 100 == len(set(OPENAI_LANGUAGES))
    with pytest.raises(RuntimeError, match="tiktoken"):
        multi.encode_text("hello")


def test_prompt_layout_on_an_audiokit_tokenizer():
    tok = tokenizer_from_spec(char_spec())
    vocab = WhisperVocab.from_tokenizer(tok, ["en", "de"])
    base = tok.vocab_size
    names = vocab.special_tokens()
    assert list(names)[:6] == ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>",
                               "<|translate|>", "<|transcribe|>"]
    assert list(names.values()) == list(range(base, base + 2 + 2 + 6 + 1501))
    assert names["<|1.00|>"] == vocab.timestamp_token(1.0) == base + 10 + 50
    assert vocab.n_vocab == base + 10 + 1501

    seq, prompt_len = vocab.sequence(tok.encode("two"), language="de")
    assert prompt_len == 4
    # sot, <|de|>, transcribe, notimestamps
    assert seq[:4] == [base + 1, base + 3, base + 5, base + 9]
    assert seq[4:-1] == tok.encode("two") and seq[-1] == base  # text, then <|endoftext|>
    inputs, targets = vocab.training_pair(seq, prompt_len)
    assert inputs == seq[:-1]
    assert targets == [IGNORE_INDEX] * 3 + seq[4:]  # prompt not scored; text and eot are
    _, with_lang = vocab.training_pair(seq, prompt_len, score_language=True)
    assert with_lang[:3] == [base + 3, IGNORE_INDEX, IGNORE_INDEX]

    stamped, n = vocab.sequence(segments=[(0.0, 0.5, tok.encode("one")),
                                          (0.5, 1.0, tok.encode("two"))])
    assert n == 3 and stamped[:3] == [base + 1, base + 2, base + 5]  # no <|notimestamps|>
    assert stamped[3] == vocab.timestamp_token(0.0)
    assert stamped[3 + 4] == vocab.timestamp_token(0.5)


def test_parse_decoded_sequence_with_timestamps():
    tok = tokenizer_from_spec(char_spec())
    vocab = WhisperVocab.from_tokenizer(tok)
    ts = vocab.timestamp_token
    tokens = [ts(0.0), *tok.encode("one"), ts(0.62), ts(0.62), *tok.encode("two six"), ts(1.5),
              ts(1.8), *tok.encode("nine"), vocab.eot, *tok.encode("zero")]
    text, segments = vocab.parse(tokens)
    assert text == "onetwo sixnine"  # the base tokenizer joins the text tokens as they come
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 0.62, "one"), (0.62, 1.5, "two six"), (1.8, None, "nine")]
    text, segments = vocab.parse(tok.encode("seven"))
    assert text == "seven" and [(s.start, s.end) for s in segments] == [(None, None)]


def test_timestamp_rules():
    vocab = WhisperVocab.for_openai(51865)
    tb, eot = vocab.timestamp_begin, vocab.eot

    def allowed(sampled: list[int], max_initial: float | None = 1.0) -> torch.Tensor:
        logits = torch.zeros(1, vocab.n_vocab)
        logits[0, :tb] = 10.0  # text outweighs all timestamps together: rule 4 stays quiet
        apply_timestamp_rules(logits, [sampled], vocab, max_initial)
        return torch.isfinite(logits[0])

    first = allowed([])  # opens with a timestamp no later than 1.00 s
    assert not first[:tb].any() and first[tb: tb + 51].all() and not first[tb + 51:].any()
    after_start = allowed([tb + 10])  # text follows a segment start
    assert after_start[:tb].all() and not after_start[tb:].any()
    after_end = allowed([tb + 10, 100, tb + 20])  # the next start (>= the end) or eot
    assert not after_end[:eot].any() and after_end[eot]
    assert not after_end[tb: tb + 20].any() and after_end[tb + 20:].all()
    in_text = allowed([tb + 10, 100])  # time cannot go back before the segment start
    assert in_text[:tb].all() and not in_text[tb: tb + 11].any() and in_text[tb + 11:].all()
    # when the timestamps' total probability beats the best text token, a timestamp is forced
    logits = torch.zeros(1, vocab.n_vocab)
    logits[0, :tb] = 1.0
    apply_timestamp_rules(logits, [[tb, 100]], vocab, 1.0)
    assert not torch.isfinite(logits[0, :tb]).any()


# ---------------------------------------------------------------- checkpoint format

def test_openai_checkpoint_loads_exactly(tmp_path: Path):
    torch.manual_seed(0)
    source = Whisper(**TINY).eval()
    with torch.no_grad():  # make the learned decoder table non-trivial
        source.decoder.positional_embedding.normal_()
    path = tmp_path / "tiny.pt"
    torch.save({"dims": dict(TINY), "model_state_dict": source.state_dict()}, path)

    loaded = load_openai_checkpoint(path).eval()
    assert asdict(loaded.dims) == TINY
    ref, got = source.state_dict(), loaded.state_dict()
    assert set(got) == set(ref)
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    expected_names = {"encoder.conv1.weight", "encoder.conv2.bias", "encoder.positional_embedding",
                      "encoder.blocks.3.attn.query.weight", "encoder.blocks.0.attn.key.weight",
                      "encoder.blocks.0.mlp.0.weight", "encoder.blocks.0.mlp.2.bias",
                      "encoder.blocks.0.attn_ln.weight", "encoder.blocks.0.mlp_ln.bias",
                      "encoder.ln_post.weight", "decoder.token_embedding.weight",
                      "decoder.positional_embedding", "decoder.blocks.3.cross_attn.out.weight",
                      "decoder.blocks.0.cross_attn_ln.weight", "decoder.ln.bias"}
    assert expected_names <= set(got)
    assert "encoder.blocks.0.attn.key.bias" not in got  # the key projection has no bias

    mel = torch.randn(1, 3000, 80)
    tokens = torch.tensor([[50258, 50259, 50359, 50363, 440, 2068]])
    with torch.no_grad():
        assert torch.equal(loaded(mel, tokens), source(mel, tokens))


def test_checkpoint_errors_name_the_file(tmp_path: Path):
    model = small_model(n_vocab=2000)
    state = model.state_dict()
    dims = asdict(model.dims)
    missing = tmp_path / "missing.pt"
    torch.save({"dims": dims, "model_state_dict": {k: v for k, v in state.items()
                                                   if "ln_post" not in k}}, missing)
    with pytest.raises(CheckpointError, match=r"missing\.pt.*missing 2 tensor.*ln_post"):
        load_openai_checkpoint(missing)
    shape = tmp_path / "shape.pt"
    torch.save({"dims": {**dims, "n_vocab": 2001}, "model_state_dict": state}, shape)
    with pytest.raises(CheckpointError, match=r"shape\.pt.*token_embedding.*2000, 32.*2001, 32"):
        load_openai_checkpoint(shape)
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": state}, bad)
    with pytest.raises(CheckpointError, match=r"bad\.pt.*'dims'"):
        load_openai_checkpoint(bad)


def test_save_openai_checkpoint_round_trips(tmp_path: Path):
    model = small_model(n_vocab=2000).eval()
    path = save_openai_checkpoint(model, tmp_path / "out" / "model.pt")
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"dims", "model_state_dict"} and saved["dims"] == asdict(model.dims)
    again = load_openai_checkpoint(path).eval()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 again.state_dict().values(), strict=True))
    mel, tokens = torch.randn(2, 40, 80), torch.randint(0, 2000, (2, 5))
    with torch.no_grad():
        assert torch.equal(model(mel, tokens), again(mel, tokens))


# ---------------------------------------------------------------- model behaviour

def test_cached_decoding_matches_full_forward_and_padding_does_not_leak():
    model = small_model(n_vocab=1600).eval()
    mel = torch.randn(2, 60, 80)
    lens = torch.tensor([60, 41])
    mel[1, 41:] = 0.0  # frontend contract: frames past the length are zero
    tokens = torch.randint(0, 1600, (2, 7))
    with torch.no_grad():
        full = model(mel, tokens, lens)
        audio, audio_lens = model.embed_audio(mel, lens)
        state, steps = None, []
        for t in range(3, 8):  # prompt of 3 tokens, then one token at a time
            logp, state = model.step(tokens[:, :t], state, audio, audio_lens)
            steps.append(logp)
        torch.testing.assert_close(torch.stack(steps, 1), full[:, 2:].log_softmax(-1),
                                   atol=1e-5, rtol=1e-5)
        # the short utterance alone gives the same encoder output and logits as in the batch
        alone_audio, _ = model.embed_audio(mel[1:, :41], lens[1:])
        torch.testing.assert_close(alone_audio[0], audio[1, :21], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model(mel[1:, :41], tokens[1:], lens[1:]), full[1:],
                                   atol=1e-5, rtol=1e-5)


def test_language_id_finds_the_planted_language():
    vocab = WhisperVocab.for_openai(51865)
    torch.manual_seed(0)
    model = Whisper(**{**TINY, "n_audio_state": 32, "n_text_state": 32, "n_audio_head": 2,
                       "n_text_head": 2, "n_audio_layer": 1, "n_text_layer": 1,
                       "n_audio_ctx": 50}).eval()
    with torch.no_grad():
        # the decoder's final LayerNorm outputs the unit vector e_0 whatever its input, so a
        # token's logit is its embedding's first coordinate: plant <|ja|> as the largest
        model.decoder.ln.weight.zero_()
        model.decoder.ln.bias.zero_()
        model.decoder.ln.bias[0] = 1.0
        emb = model.decoder.token_embedding.weight
        emb[:, 0] = torch.linspace(-1.0, 1.0, emb.size(0))  # text tokens outrank languages
        emb[vocab.language_token("ja"), 0] = 0.95
        audio, _ = model.embed_audio(torch.randn(3, 100, 80))
        langs, probs = detect_language(model, vocab, audio)
    assert langs == ["ja"] * 3
    assert probs.shape == (3, 99)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3))
    assert int(probs[0].argmax()) == OPENAI_LANGUAGES.index("ja")


class PrefixScorer(torch.nn.Module):
    """A stand-in model whose next-token logits are a fixed random function of the prefix (and
    ``seed``), so the search space has many competing hypotheses (a random network mostly
    repeats one token). Its cache holds the prefix, with dim 0 = hypotheses, as a real one."""

    def __init__(self, n_vocab: int, seed: int, n_text_ctx: int = 32) -> None:
        super().__init__()
        self.n_vocab, self.seed = n_vocab, seed
        self.dims = type("Dims", (), {"n_text_ctx": n_text_ctx})()

    def embed_audio(self, mel, lens):
        return mel, lens

    def decoder(self, tokens, audio, audio_lens=None, cache=None):
        prefix = tokens if cache is None else torch.cat([cache[0][0], tokens], 1)
        logits = torch.zeros(tokens.size(0), tokens.size(1), self.n_vocab)
        for n, seq in enumerate(prefix.tolist()):
            gen = torch.Generator().manual_seed(hash((self.seed, *seq)) % 2**31)
            logits[n, -1] = 2.0 * torch.randn(self.n_vocab, generator=gen)
        return logits, [(prefix,)]


def test_beam_search_with_a_wide_beam_finds_the_exhaustive_best():
    """With a beam wider than the number of prefixes, beam search is exhaustive: it must return
    the sequence with the best average log-probability among all that end within the cap."""
    import itertools

    from audiokit.models.whisper.decoding import beam_decode, suppressed_tokens

    tok = CharTokenizer(["<blank>", "<unk>", "a", "b", "<sos/eos>"])  # text tokens 1, 2, 3
    vocab = WhisperVocab.from_tokenizer(tok)
    # audiokit's strict suppression, no blank suppression: the candidates are text tokens only
    banned = torch.tensor(suppressed_tokens(vocab, timestamps=False, special=True))
    prompt = vocab.prompt("en")
    cap = 4
    mel = torch.zeros(1, 10, 80)
    lengths = []
    for seed in range(4):
        scorer = PrefixScorer(vocab.n_vocab, seed)

        def avg_logprob(body: list[int], scorer=scorer) -> float:
            total, seq = 0.0, prompt + body + [vocab.eot]
            for t in range(len(prompt), len(seq)):
                logits = scorer.decoder(torch.tensor([seq[:t]]), mel)[0][0, -1]
                total += float(logits.index_fill(0, banned, float("-inf")).log_softmax(0)[seq[t]])
            return total / (len(body) + 1)

        candidates = [list(b) for n in range(cap) for b in itertools.product([1, 2, 3], repeat=n)]
        best = max(candidates, key=avg_logprob)
        lengths.append(len(best))
        result = decode(scorer, vocab, mel, None,
                        DecodingOptions(language="en", beam_size=64, max_new_tokens=cap,
                                        suppress_blank=False, suppress_special_tokens=True))[0]
        assert result.tokens == best
        assert result.avg_logprob == pytest.approx(avg_logprob(best), abs=1e-5)
        # a beam of one follows the greedy path
        greedy = decode(scorer, vocab, mel, None, DecodingOptions(max_new_tokens=cap))[0]
        narrow = beam_decode(scorer, vocab, mel, None, DecodingOptions(max_new_tokens=cap))[0]
        assert narrow.tokens == greedy.tokens
    assert max(lengths) >= 2  # the search had real competition, not just an immediate end


@pytest.mark.parametrize("beam_size", [1, 3])
def test_decoding_with_timestamps_obeys_the_rules(beam_size: int):
    tok = tokenizer_from_spec(char_spec())
    vocab = WhisperVocab.from_tokenizer(tok)
    tb = vocab.timestamp_begin
    for seed in range(4):
        scorer = PrefixScorer(vocab.n_vocab, seed)
        with torch.no_grad():
            result = decode(scorer, vocab, torch.zeros(1, 10, 80), None, DecodingOptions(
                timestamps=True, beam_size=beam_size, max_new_tokens=20,
                suppress_special_tokens=True))[0]
        tokens = result.tokens
        assert tokens and tb <= tokens[0] <= vocab.timestamp_token(1.0)
        stamps = [t for t in tokens if t >= tb]
        assert stamps == sorted(stamps)
        assert all(t < tok.vocab_size or t >= tb for t in tokens)  # no other specials (strict)
        for i in range(2, len(tokens)):  # a lone timestamp after text is followed by another
            if tokens[i - 1] >= tb and tokens[i - 2] < tb:
                assert tokens[i] >= tb
        assert result.text == vocab.parse(tokens)[0]


# ---------------------------------------------------------------- frontend

def openai_recipe_logmel(wav: torch.Tensor, n_mels: int) -> torch.Tensor:
    """Whisper's published recipe, written out: pad to 30 s, centred STFT dropping the last
    frame, Slaney mel, log10 clamp at 1e-10, floor 8 below the max, (x + 4) / 4."""
    wav = F.pad(wav, (0, 480000 - wav.numel()))
    spec = torch.stft(wav, 400, 160, window=torch.hann_window(400), center=True,
                      return_complex=True)[:, :-1]
    filters = melscale_fbanks(201, 0.0, 8000.0, n_mels, 16000, norm="slaney", mel_scale="slaney")
    log_spec = (filters.T @ spec.abs() ** 2).clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).T


@pytest.mark.parametrize("n_mels", [80, 128])
def test_frontend_matches_whisper_recipe_with_30s_padding(n_mels: int):
    torch.manual_seed(0)
    t = torch.arange(32000) / 16000
    one = 0.3 * torch.sin(2 * torch.pi * 440 * t[:16000]) + 0.01 * torch.randn(16000)
    two = 0.1 * torch.randn(32000)
    wav = torch.stack([F.pad(one, (0, 16000)), two])
    feats, lens = WhisperLogMel(n_mels=n_mels)(wav, torch.tensor([16000, 32000]))
    assert feats.shape == (2, 3000, n_mels) and lens.tolist() == [3000, 3000]
    for b, (sig, n) in enumerate([(one, 16000), (two, 32000)]):
        ref = openai_recipe_logmel(sig[:n], n_mels)
        torch.testing.assert_close(feats[b], ref, atol=1e-4, rtol=1e-4)
        # scale: peak maps to (peak + 4) / 4, nothing lies more than 2 below it, and the
        # padding (silence) sits exactly at that floor
        top = feats[b].max()
        assert feats[b].min() >= top - 2.0 - 1e-6
        torch.testing.assert_close(feats[b, n // 160 + 2:], torch.full_like(
            feats[b, n // 160 + 2:], float(top) - 2.0))


def test_frontend_without_padding_keeps_lengths_and_is_batch_independent():
    torch.manual_seed(0)
    frontend = WhisperLogMel(pad_to_seconds=None)
    wav = 0.1 * torch.randn(2, 8000)
    feats, lens = frontend(wav, torch.tensor([8000, 5000]))
    assert feats.shape == (2, 50, 80) and lens.tolist() == [50, 31]
    assert torch.all(feats[1, 31:] == 0)
    alone, alone_lens = frontend(wav[1:, :5000], torch.tensor([5000]))
    assert alone_lens.tolist() == [31]
    torch.testing.assert_close(alone[0], feats[1, :31])
    with pytest.raises(ValueError, match="16000"):
        WhisperLogMel(sample_rate=8000)


# ---------------------------------------------------------------- task and pipeline

MODEL_CFG = {"_target_": "audiokit.models.whisper.Whisper", "n_audio_ctx": 100,
             "n_audio_state": 64, "n_audio_head": 4, "n_audio_layer": 2, "n_text_ctx": 32,
             "n_text_state": 64, "n_text_head": 4, "n_text_layer": 2}
FRONTEND_CFG = {"_target_": "audiokit.frontends.whisper_logmel.WhisperLogMel",
                "n_mels": 80, "pad_to_seconds": None}


def make_task(**extra) -> WhisperTask:
    torch.manual_seed(0)
    kwargs = dict(frontend=FRONTEND_CFG, model=MODEL_CFG,
                  optim={"_target_": "torch.optim.Adam", "lr": 2e-3},
                  loss={"_target_": "torch.nn.CrossEntropyLoss", "label_smoothing": 0.0},
                  tokenizer=char_spec(), language="en")
    return WhisperTask(**{**kwargs, **extra})


def digit_batch() -> dict:
    """Four distinct 0.5 s 'utterances' (tones at different pitches), each with its text."""
    t = torch.arange(8000) / 16000
    audio = torch.stack([0.3 * torch.sin(2 * torch.pi * f * t) for f in (300, 700, 1300, 2500)])
    return {"ids": ["a", "b", "c", "d"], "audio": audio,
            "audio_lens": torch.tensor([8000, 8000, 7000, 8000]),
            "text": ["one", "two", "six nine", "zero"]}


def test_task_builds_vocab_and_rejects_bad_config():
    task = make_task()
    assert task.model.dims.n_vocab == task.vocab.n_vocab == task.tokenizer.vocab_size + 1510
    assert "init_checkpoint" not in task.hparams
    with pytest.raises(ValueError, match="token_dir"):
        make_task(tokenizer=None)
    with pytest.raises(ValueError, match="'fr' is not in the vocabulary"):
        make_task(languages=["en", "de"], language="fr")


def test_task_overfits_a_tiny_batch_and_transcribes_it(tmp_path: Path):
    import soundfile as sf

    from audiokit.inference.whisper import Transcriber

    task = make_task()
    task.log = lambda *args, **kwargs: None  # no trainer here
    batch = digit_batch()
    optimizer = task.configure_optimizers()
    task.train()
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = task.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 5.0  # ~ log(n_vocab) at the start
    assert losses[-1] < 0.05 * losses[0], losses[::10]

    task.eval()
    logged = {}
    task.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    with torch.no_grad():
        task.validation_step(batch, 0)
    assert logged["valid/acc"] == 1.0 and logged["valid/loss"] < 0.1

    results = task.transcribe(batch["audio"], batch["audio_lens"])
    assert [r.text for r in results] == batch["text"]
    assert all(r.language == "en" and r.avg_logprob > -0.5 for r in results)
    beam = task.transcribe(batch["audio"], batch["audio_lens"],
                           task.decoding_options(beam_size=3))
    assert [r.text for r in beam] == batch["text"]

    # the pipeline on a data dir written to disk
    data = tmp_path / "data"
    data.mkdir()
    scp = []
    for utt, wav, n in zip(batch["ids"], batch["audio"], batch["audio_lens"].tolist(), strict=True):
        sf.write(data / f"{utt}.wav", wav[:n].numpy(), 16000, subtype="FLOAT")
        scp.append(f"{utt} {data / f'{utt}.wav'}\n")
    (data / "wav.scp").write_text("".join(scp))
    transcriber = Transcriber(task, 16000, decoding={"beam": 2})
    assert transcriber.options.beam_size == 2
    assert transcriber(batch["audio"][0]) == "one"
    transcriber.process_data_dir(str(data), str(tmp_path / "out"))
    lines = (tmp_path / "out" / "text").read_text().splitlines()
    assert lines == [f"{u} {t}" for u, t in zip(batch["ids"], batch["text"], strict=True)]
    assert not (tmp_path / "out" / "lang").exists()  # one language: nothing to identify
    with pytest.raises(ValueError, match="unknown Whisper decoding option"):
        Transcriber(task, 16000, decoding={"ctc_weight": 0.3})
    with pytest.raises(ValueError, match="mode=attention"):
        Transcriber(task, 16000, decoding={"mode": "joint"})

    # the trained weights as an OpenAI-format checkpoint initialise a new task exactly
    path = transcriber.export_openai_checkpoint(tmp_path / "ft.pt")
    again = make_task(init_checkpoint=str(path))
    assert all(torch.equal(a, b) for a, b in zip(task.model.state_dict().values(),
                                                 again.model.state_dict().values(), strict=True))


def test_init_checkpoint_with_another_vocabulary(tmp_path: Path):
    task = make_task()
    other = Whisper.from_dims({**asdict(task.model.dims), "n_vocab": 51865})  # OpenAI layout
    path = save_openai_checkpoint(other, tmp_path / "openai_layout.pt")
    with pytest.raises(CheckpointError, match=r"openai_layout\.pt.*n_vocab 51865.*vocab_mismatch"):
        make_task(init_checkpoint=str(path))
    reinit = make_task(init_checkpoint=str(path), vocab_mismatch="reinit")
    ours, theirs = reinit.vocab, WhisperVocab.for_openai(51865)
    emb, src = reinit.model.decoder.token_embedding.weight, other.decoder.token_embedding.weight
    for name in ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>",
                 "<|1.00|>"):
        assert torch.equal(emb[ours.special_tokens()[name]], src[theirs.special_tokens()[name]])
    assert torch.equal(reinit.model.encoder.conv1.weight, other.encoder.conv1.weight)
    wrong_dims = save_openai_checkpoint(small_model(task.vocab.n_vocab), tmp_path / "small.pt")
    with pytest.raises(CheckpointError, match=r"small\.pt.*n_audio_state: file 32 vs config 64"):
        make_task(init_checkpoint=str(wrong_dims))
