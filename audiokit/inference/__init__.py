"""Inference pipelines built from an experiment dir: decoding, labelling, scoring inputs."""
