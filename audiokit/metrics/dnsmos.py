"""DNSMOS P.835 (Reddy et al. 2022): non-intrusive predicted MOS of speech signal quality
(SIG), background noise (BAK) and overall quality (OVRL), 1-5, through the ``speechmos``
package (Microsoft's ONNX models ship in its wheel; runs offline on onnxruntime).

The models take 16 kHz audio: other rates are resampled (torchaudio); 8 kHz speech has no
energy above 4 kHz and reads lower than the same speech recorded wideband. DNSMOS scores
9-second windows: a shorter clip is repeated to that length (the package's own rule).
"""

from __future__ import annotations

import os

import numpy as np
import torch

DNSMOS_RATE = 16000
INSTALL_HINT = "pip install speechmos librosa onnxruntime"


class Dnsmos:
    """``Dnsmos()(audio, rate) -> {"sig", "bak", "ovrl", "p808"}``; the ONNX sessions are built
    once, with as many threads as torch uses (one on a shared machine)."""

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
            from speechmos import dnsmos
        except ImportError as e:
            raise ImportError(f"DNSMOS needs the speechmos package ({INSTALL_HINT}): {e}") from None
        # the package's own class, with sessions of our thread count (its __init__ takes all cores)
        self.model = dnsmos.DNSMOS.__new__(dnsmos.DNSMOS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        folder = os.path.join(os.path.dirname(dnsmos.__file__), "dnsmos_models")
        self.model.primary_model_path = f"{folder}/sig_bak_ovr.onnx"
        self.model.onnx_sess = ort.InferenceSession(self.model.primary_model_path, options)
        self.model.p808_onnx_sess = ort.InferenceSession(f"{folder}/model_v8.onnx", options)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> dict[str, float]:
        if audio.size == 0 or not np.any(audio):
            raise ValueError("DNSMOS undefined for empty or silent audio")
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if sample_rate != DNSMOS_RATE:
            import torchaudio

            x = torchaudio.functional.resample(x, sample_rate, DNSMOS_RATE)
        scores = self.model(x.clamp(-1, 1).numpy(), DNSMOS_RATE, False)
        return {"sig": float(scores["sig_mos"]), "bak": float(scores["bak_mos"]),
                "ovrl": float(scores["ovrl_mos"]), "p808": float(scores["p808_mos"])}
