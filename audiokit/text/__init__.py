"""Text for ASR: tokenizers (token lists) and text normalisation for scoring."""

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

__all__ = [
    "BLANK", "SOS_EOS", "SPACE", "UNK", "CharTokenizer", "SentencePieceTokenizer", "TextNormalizer",
    "Tokenizer", "WordTokenizer", "load_token_dir", "tokenizer_from_spec", "train_tokenizer",
]
