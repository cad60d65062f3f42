"""Video diffusion (Ho et al. 2022) with frame-mask conditioning (Harvey et al. 2022): the `vdm` family."""
