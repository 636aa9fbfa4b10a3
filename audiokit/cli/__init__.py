"""Console entry points: audiokit-train, -infer, -score, -prep."""
