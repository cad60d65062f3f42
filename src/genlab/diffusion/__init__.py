"""Diffusion: schedules, forward process, parameterisations, the denoiser, losses, bound, samplers and their registry.

Math modules hold no weights; genlab.diffusion.family wires them to a network and the training loop, and
genlab.diffusion.pipeline samples a run (condition, guidance, precision) through the registry `SAMPLERS`.
"""
from genlab.diffusion.denoiser import Denoiser
from genlab.diffusion.forward_process import gaussian_noise, q_posterior, q_sample
from genlab.diffusion.guidance import classifier_free_guidance, classifier_free_guidance_batched
from genlab.diffusion.likelihood import (Variance, VariationalBound, bits_per_dim,
                                         discretized_gaussian_log_likelihood, normal_kl, p_mean_variance, prior_kl,
                                         vb_terms)
from genlab.diffusion.losses import l_simple, min_snr_weight
from genlab.diffusion.parametrization import (ModelFn, Prediction, eps_from_score, eps_from_v, eps_from_x0,
                                              prediction_target, score_from_eps, split_prediction, to_x0_eps,
                                              v_from_x0_eps, x0_from_eps, x0_from_v)
from genlab.diffusion.ode_samplers import sample_dpmpp_2m, sample_euler, sample_heun
from genlab.diffusion.samplers import SAMPLERS, Sampler, get_sampler, sampler_names
from genlab.diffusion.sampling import ddim_step, ddim_update, ddpm_step, ddpm_update, sample_ancestral, sample_ddim
from genlab.diffusion.schedules import (NoiseSchedule, betas_cosine, betas_geodiff_sigmoid, betas_linear,
                                        betas_scaled_linear, betas_sigmoid, extract)
from genlab.diffusion.timesteps import (ScheduleSpacing, Spacing, karras_timesteps, schedule_timesteps, timesteps,
                                        ve_sigmas)
from genlab.diffusion.unipc import sample_unipc

__all__ = [
    "NoiseSchedule", "betas_linear", "betas_scaled_linear", "betas_cosine", "betas_sigmoid",
    "betas_geodiff_sigmoid", "extract", "q_sample", "q_posterior", "gaussian_noise",
    "ModelFn", "Prediction", "x0_from_eps", "eps_from_x0", "v_from_x0_eps", "x0_from_v", "eps_from_v",
    "score_from_eps", "eps_from_score", "split_prediction", "prediction_target", "to_x0_eps", "Denoiser",
    "l_simple", "min_snr_weight", "normal_kl", "discretized_gaussian_log_likelihood", "prior_kl", "vb_terms",
    "p_mean_variance", "bits_per_dim", "VariationalBound", "Variance", "Spacing", "timesteps", "ddpm_step",
    "ddim_step", "ddpm_update", "ddim_update", "sample_ancestral", "sample_ddim", "SAMPLERS", "Sampler",
    "get_sampler", "sampler_names", "sample_euler", "sample_heun", "sample_dpmpp_2m", "sample_unipc",
    "ScheduleSpacing", "karras_timesteps", "schedule_timesteps", "ve_sigmas", "classifier_free_guidance",
    "classifier_free_guidance_batched",
]
