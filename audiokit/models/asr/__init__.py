"""ASR networks: encoders (conformer, transformer, wav2vec 2.0), the attention decoder, and
:class:`ASRModel` that joins them with a CTC head."""

from audiokit.models.asr.conformer import ConformerEncoder
from audiokit.models.asr.model import ASRModel, EncoderOutput
from audiokit.models.asr.transformer import TransformerDecoder, TransformerEncoder

__all__ = ["ASRModel", "ConformerEncoder", "EncoderOutput", "TransformerDecoder",
           "TransformerEncoder"]
