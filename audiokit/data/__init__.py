"""Data layer: Kaldi-style data dirs, audio I/O, datasets, samplers, collate, augmentation."""
