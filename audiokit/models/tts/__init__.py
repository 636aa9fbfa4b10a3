"""Text-to-speech models (Tacotron 2) and their pieces: attention failure detection,
monotonic alignment search."""
