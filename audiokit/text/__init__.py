"""Text for ASR (tokenizers, normalisation for scoring) and for TTS (cleaners, characters or
phonemes: :mod:`audiokit.text.tts_frontend`)."""

from audiokit.text.cleaners import english_cleaner
from audiokit.text.normalize import TextNormalizer
from audiokit.text.tokenizer import (
    BLANK,
    SOS_EOS,
    SPACE,
    UNK,
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    WordTokenizer,
    load_token_dir,
    tokenizer_from_spec,
    train_tokenizer,
)
from audiokit.text.tts_frontend import TextFrontend, UnknownSymbolsError

__all__ = [
    "BLANK", "SOS_EOS", "SPACE", "UNK", "CharTokenizer", "SentencePieceTokenizer", "TextNormalizer",
    "Tokenizer", "WordTokenizer", "load_token_dir", "tokenizer_from_spec", "train_tokenizer",
    "TextFrontend", "UnknownSymbolsError", "english_cleaner",
]
