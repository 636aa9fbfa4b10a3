"""GAN discriminators. Each returns ``(logits, features)``: one logits tensor per
sub-discriminator and, per sub-discriminator, the list of its intermediate feature maps
(for the feature-matching loss)."""

from audiokit.models.gan.combined import CombinedDiscriminator
from audiokit.models.gan.mpd import MultiPeriodDiscriminator
from audiokit.models.gan.msd import MultiScaleDiscriminator
from audiokit.models.gan.msstft import MultiScaleSTFTDiscriminator
from audiokit.models.gan.receptive_field import receptive_field

__all__ = ["CombinedDiscriminator", "MultiPeriodDiscriminator", "MultiScaleDiscriminator",
           "MultiScaleSTFTDiscriminator", "receptive_field"]
