"""Symbolic music: notes, event tokens, MIDI I/O, corpora (Bach chorales, MAESTRO layout),
an n-gram baseline and the statistics that score generated pieces."""
