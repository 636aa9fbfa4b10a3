"""Corpus preparation: turn a corpus layout into Kaldi-style data dirs."""
