"""Read and write checkpoints in OpenAI Whisper's file format:
``torch.save({"dims": {n_mels: ..., ...}, "model_state_dict": {name: tensor}})``.

An optional ``"audiokit"`` entry records the text tokenizer spec and language list of a model
trained here (OpenAI's loader ignores it), so a fine-tuning run can check that the vocabulary it
builds is the checkpoint's.

Files are read with ``torch.load(weights_only=True)``: a checkpoint cannot run code. The
released checkpoints store half-precision weights; they are cast to the model's dtype on load.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from audiokit.models.whisper.model import ModelDimensions, Whisper
from audiokit.models.whisper.tokens import WhisperVocab


class CheckpointError(ValueError):
    """A checkpoint file that is not a usable Whisper checkpoint (the message names the file)."""


def read_openai_checkpoint(path: str | Path
                           ) -> tuple[ModelDimensions, dict[str, torch.Tensor], dict]:
    """(dims, state dict, audiokit metadata or {}) of an OpenAI-format file, checked for its
    structure only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such Whisper checkpoint")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({e})") from e
    if not isinstance(saved, dict) or "dims" not in saved or "model_state_dict" not in saved:
        keys = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise CheckpointError(f"{path}: expected an OpenAI Whisper checkpoint with 'dims' and "
                              f"'model_state_dict', found {keys}")
    try:
        dims = ModelDimensions.from_dict(dict(saved["dims"]))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad 'dims' entry: {e}") from e
    return dims, saved["model_state_dict"], dict(saved.get("audiokit", {}))


def load_state_strict(model: Whisper, state: dict[str, torch.Tensor], path: str | Path,
                      skip: tuple[str, ...] = ()) -> None:
    """Copy ``state`` into ``model``; every missing, unexpected or mis-shaped tensor is listed in
    one error naming ``path``. Names in ``skip`` keep the model's own values."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state) - set(skip))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if k not in skip
              and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {', '.join(missing[:10])}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {', '.join(unexpected[:10])}")
    if shapes:
        problems.append("shape mismatch: " + "; ".join(shapes[:10]))
    if problems:
        raise CheckpointError(f"{path}: does not fit the Whisper model: " + " | ".join(problems))
    with torch.no_grad():
        for name, tensor in own.items():
            if name not in skip:
                tensor.copy_(state[name])


def load_openai_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Whisper:
    """A :class:`Whisper` with the dims and weights of an OpenAI-format checkpoint."""
    dims, state, _ = read_openai_checkpoint(path)
    model = Whisper.from_dims(dims)
    load_state_strict(model, state, path)
    return model.to(device)


def save_openai_checkpoint(model: Whisper, path: str | Path, vocab: WhisperVocab | None = None
                           ) -> Path:
    """Write ``model`` in OpenAI's format (loadable by OpenAI's ``whisper.load_model`` too);
    with ``vocab`` (and its audiokit tokenizer), also record the tokenizer and languages.
    Written to a temporary file and renamed, so a crash never leaves half a checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    saved = {"dims": asdict(model.dims), "model_state_dict": state}
    if vocab is not None and vocab.tokenizer is not None:
        saved["audiokit"] = {"tokenizer": vocab.tokenizer.spec(), "languages": vocab.languages}
    torch.save(saved, tmp)
    tmp.replace(path)
    return path
