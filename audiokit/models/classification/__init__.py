"""Utterance classifiers: ``Model(input_dim, num_classes, ...)(feats, lens) -> logits``."""

from audiokit.models.classification.ast import ASTClassifier
from audiokit.models.classification.resnet import ResNetClassifier

__all__ = ["ASTClassifier", "ResNetClassifier"]
