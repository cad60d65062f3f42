"""GANs: objectives (minimax, log D trick, WGAN-GP, LSGAN, hinge, R1), MLP and DCGAN networks, the loop family."""
from genlab.gan.losses import (LOSSES, GANLoss, d_loss_bce, d_loss_hinge, d_loss_lsgan, d_loss_wasserstein,
                               g_loss_hinge, g_loss_lsgan, g_loss_nonsaturating, g_loss_saturating,
                               g_loss_wasserstein, get_loss, gradient_penalty, r1_penalty)
from genlab.gan.networks import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator

__all__ = ["LOSSES", "GANLoss", "get_loss", "d_loss_bce", "g_loss_saturating", "g_loss_nonsaturating",
           "d_loss_wasserstein", "g_loss_wasserstein", "d_loss_lsgan", "g_loss_lsgan", "d_loss_hinge",
           "g_loss_hinge", "gradient_penalty", "r1_penalty", "MLPGenerator", "MLPDiscriminator", "DCGANGenerator",
           "DCGANDiscriminator"]
