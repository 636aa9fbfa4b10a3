"""Greedy decoding with OpenAI's default options gives the same tokens as openai-whisper's
``whisper.decoding.decode`` on the same random weights (blank suppression, non-speech tokens,
timestamp rules, per-utterance language ID), in both timestamp modes."""

from pathlib import Path

import pytest
import torch

from audiokit.models.whisper import (
    Whisper,
    WhisperVocab,
    load_openai_checkpoint,
    save_openai_checkpoint,
)
from audiokit.models.whisper.decoding import (
    OPENAI_NON_SPEECH_TOKENS,
    OPENAI_SPACE_TOKEN,
    DecodingOptions,
    blank_tokens,
    decode,
    suppressed_tokens,
)

whisper = pytest.importorskip("whisper")  # openai-whisper: the dev extra's reference package

N_VOCAB = 51865  # multilingual: 99 language tokens


def test_stored_non_speech_ids_are_openais():
    from whisper.tokenizer import get_tokenizer

    for n_vocab, multilingual, languages in [(51864, False, 99), (51865, True, 99),
                                             (51866, True, 100)]:
        tok = get_tokenizer(multilingual, num_languages=languages)
        assert OPENAI_NON_SPEECH_TOKENS[n_vocab] == tok.non_speech_tokens
        assert tok.encode(" ") == [OPENAI_SPACE_TOKEN]
        vocab = WhisperVocab.for_openai(n_vocab)
        assert vocab.eot == tok.eot and vocab.no_timestamps == tok.no_timestamps
        assert blank_tokens(vocab) == [tok.eot, OPENAI_SPACE_TOKEN]


def test_suppression_sets():
    vocab = WhisperVocab.for_openai(N_VOCAB)
    always = {vocab.sot, vocab.translate, vocab.transcribe, vocab.sot_lm, vocab.sot_prev,
              vocab.no_speech, *OPENAI_NON_SPEECH_TOKENS[N_VOCAB]}
    assert set(suppressed_tokens(vocab, timestamps=False)) == always
    assert set(suppressed_tokens(vocab, timestamps=True)) == always | {vocab.no_timestamps}
    strict = set(suppressed_tokens(vocab, timestamps=False, special=True))
    assert strict == always | {vocab.no_timestamps, *vocab.language_ids.values(),
                               *range(vocab.timestamp_begin, vocab.n_vocab)}
    assert set(suppressed_tokens(vocab, timestamps=True, non_speech=False)) == (
        always - set(OPENAI_NON_SPEECH_TOKENS[N_VOCAB])) | {vocab.no_timestamps}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random OpenAI-format checkpoint (n_audio_ctx 1500, so OpenAI's timestamp precision
    of 30 s / n_audio_ctx is audiokit's 0.02 s). The space, <|endoftext|> and non-speech
    embeddings (and a language token and two timestamps) are scaled up, and the space is pushed at the first generated position of the
    no-timestamp prompt, so that without OpenAI's suppression a greedy search picks them; the
    cross-attention output is scaled up so that each utterance decodes differently."""
    torch.manual_seed(0)
    model = Whisper(n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=4,
                    n_audio_layer=2, n_vocab=N_VOCAB, n_text_ctx=32, n_text_state=32,
                    n_text_head=4, n_text_layer=2)
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(std=0.5)
        emb = model.decoder.token_embedding.weight
        emb[[OPENAI_SPACE_TOKEN, 50257, *OPENAI_NON_SPEECH_TOKENS[N_VOCAB]]] *= 4.0
        # <|en|>, <|0.00|> and <|0.32|>: OpenAI does not ban them without timestamps
        emb[[50259, 50364, 50380]] *= 3.0
        for block in model.decoder.blocks:
            block.cross_attn.out.weight.mul_(4.0)
        # position 3 = <|notimestamps|>, whose output is the first generated token
        model.decoder.positional_embedding[3] += 0.3 * emb[OPENAI_SPACE_TOKEN]
    return save_openai_checkpoint(model.eval(), tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def utterances(n: int = 20) -> torch.Tensor:
    """[n, 80, 3000] log-mel-like inputs, each with its own spectral colouring."""
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 80, 1, generator=g) * 2 + 0.1 * torch.randn(n, 80, 3000, generator=g)


@pytest.mark.parametrize("timestamps", [True, False])
def test_greedy_decoding_matches_openai_whisper(checkpoint: Path, timestamps: bool):
    torch.set_num_threads(1)
    from whisper.decoding import DecodingOptions as OpenAIOptions
    from whisper.decoding import decode as openai_decode

    mel = utterances()
    reference = whisper.load_model(str(checkpoint), device="cpu")
    # OpenAI's defaults, in fp32 (fp16 only changes the arithmetic, and CPUs run fp32)
    theirs = openai_decode(reference, mel, OpenAIOptions(fp16=False,
                                                         without_timestamps=not timestamps))
    model, vocab = load_openai_checkpoint(checkpoint).eval(), WhisperVocab.for_openai(N_VOCAB)

    def ours(**options) -> list[list[int]]:
        results = decode(model, vocab, mel.transpose(1, 2), None,
                         DecodingOptions(timestamps=timestamps, **options))
        return [r.tokens for r in results]

    got = ours()
    assert got == [r.tokens for r in theirs]
    assert [r.language for r in decode(model, vocab, mel.transpose(1, 2))] == [
        r.language for r in theirs]
    assert len({tuple(t) for t in got}) >= 15  # the audio matters: no shared degenerate output
    # each of OpenAI's suppressions changes the search here, so the test sees each one
    assert ours(suppress_non_speech=False) != got
    if not timestamps:  # (with timestamps the first token is a timestamp: no blank to ban)
        assert ours(suppress_blank=False) != got
        # audiokit's stricter option bans tokens that OpenAI leaves to the model
        assert ours(suppress_special_tokens=True) != got
