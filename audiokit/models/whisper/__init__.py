"""Whisper-style multitask encoder-decoder that reads and writes OpenAI Whisper checkpoints.

Training and fine-tuning here: ``audiokit-train experiment=asr/fsdd_whisper`` (the task is
:class:`audiokit.tasks.whisper.WhisperTask`; its text vocabulary is an audiokit token dir).

A released OpenAI checkpoint loads as is, and its special tokens work; its text vocabulary
(GPT-2/tiktoken BPE) is not shipped with audiokit, so text cannot be encoded or decoded for it::

    model = load_openai_checkpoint("tiny.pt")
    vocab = WhisperVocab.for_openai(model.dims.n_vocab)
    feats, lens = WhisperLogMel()(wav, wav_lens)             # 16 kHz, padded to 30 s
    languages, probs = detect_language(model, vocab, model.embed_audio(feats)[0])
    tokens = decode(model, vocab, feats)[0].tokens          # token ids (text needs tiktoken)

To fine-tune one on our data with an audiokit tokenizer, set ``task.init_checkpoint`` and
``task.vocab_mismatch=reinit`` (new text-token embeddings; network and special tokens kept).
"""

from audiokit.models.whisper.checkpoint import (
    CheckpointError,
    load_openai_checkpoint,
    save_openai_checkpoint,
)
from audiokit.models.whisper.decoding import (
    DecodingOptions,
    DecodingResult,
    decode,
    detect_language,
)
from audiokit.models.whisper.model import ModelDimensions, Whisper
from audiokit.models.whisper.tokens import OPENAI_LANGUAGES, Segment, WhisperVocab

__all__ = [
    "OPENAI_LANGUAGES", "CheckpointError", "DecodingOptions", "DecodingResult", "ModelDimensions",
    "Segment", "Whisper", "WhisperVocab", "decode", "detect_language", "load_openai_checkpoint",
    "save_openai_checkpoint",
]
