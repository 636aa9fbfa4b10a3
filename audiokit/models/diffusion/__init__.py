"""Diffusion over log-mel spectrograms (text-to-music, Riffusion/MusicLDM-style): the noise
schedule (:mod:`.schedule`), DDPM and DDIM samplers (:mod:`.samplers`), classifier-free
guidance (:mod:`.guidance`) and a text-conditioned 1-D U-Net denoiser (:mod:`.unet`)."""

from audiokit.models.diffusion.guidance import classifier_free_guidance
from audiokit.models.diffusion.samplers import ddim_sample, ddim_timesteps, ddpm_sample
from audiokit.models.diffusion.schedule import NoiseSchedule
from audiokit.models.diffusion.unet import MelUNet

__all__ = ["MelUNet", "NoiseSchedule", "classifier_free_guidance", "ddim_sample",
           "ddim_timesteps", "ddpm_sample"]
