"""Unsupervised Learning of Causal Relationships from Unstructured Data: a VAE whose prior is a SEM.

Anonymous authors, an ICLR 2023 submission under double-blind review: https://openreview.net/forum?id=2xNKMFGPJU5

The lifecycle: ``result(config(preset), seed)`` gives the trained :class:`Result`.

- ``experiment.py``: :class:`SemvaeConfig`, ``PRESETS``, ``config``, ``result``, ``Result``.
- ``sem.py``: the SEM prior's maths: Thm. 2's moments, Thm. 3's linearisation, the KL.
- ``graph.py``: maximal DAGs (Prop. 1), Gumbel-softmax edges and sparsity (§4.5), SHD (App. G).
- ``model.py``: the oval VAEs and their losses (§5.1, App. E), the shared encoder blocks.
- ``temporal.py``: the temporal causal-prior VAE of the Mario clips, do() and roll-out (§5.2).
- ``train.py``: the training loops of both experiments.
- ``analysis.py``: what the models learned, as numbers (Fig. 2, 4, 6, 7; App. G's SHD).
- ``ovals.py``: the ovals-on-a-parabola images (§5.1, App. E).
- ``mario.py``: the three-frame clips of a character in linear motion (§5.2, App. F).
"""

from causalkit.semvae.experiment import (
    PRESETS,
    MarioConfig,
    OvalsConfig,
    Result,
    SemvaeConfig,
    config,
    result,
)
from causalkit.semvae.graph import (
    edge_probabilities,
    expected_graph_size,
    extract_graph,
    maximal_dag,
    sample_edge_mask,
    sparsity_penalty,
    structural_hamming_distance,
    temporal_maximal_dag,
    temporal_structural_hamming_distance,
)
from causalkit.semvae.mario import (
    MARIO_SPRITE,
    POSITION_VARIABLES,
    MarioClips,
    background,
    mario_clips,
    render_frames,
    sprite_position,
)
from causalkit.semvae.model import (
    CausalOvalVAE,
    GaussianEncoder,
    OvalVAE,
    QuadraticSEM,
    VAELoss,
    beta_vae_loss,
    causal_prior_kl,
    causal_vae_loss,
    decode_from_noise,
    monte_carlo_prior_kl,
    posterior_pivot_kl,
    prior_kl,
    standard_normal_kl,
)
from causalkit.semvae.ovals import (
    OVAL_FACTORS,
    QUICK_OVAL_GRID,
    OvalDataset,
    OvalGrid,
    ink_positions,
    oval_centres,
    oval_dataset,
    oval_images,
    oval_positions,
)
from causalkit.semvae.sem import (
    ancestral_sample,
    anm_log_prob,
    gaussian_kl,
    linear_sem_moments,
    linearise_sem,
    local_gaussian_prior,
    propagation_matrix,
)
from causalkit.semvae.temporal import (
    LinearTemporalSEM,
    TemporalCausalVAE,
    TemporalVAELoss,
    extrapolate,
    intervene,
    temporal_vae_loss,
)

__all__ = [
    "MARIO_SPRITE",
    "OVAL_FACTORS",
    "POSITION_VARIABLES",
    "PRESETS",
    "QUICK_OVAL_GRID",
    "CausalOvalVAE",
    "GaussianEncoder",
    "LinearTemporalSEM",
    "MarioClips",
    "MarioConfig",
    "OvalDataset",
    "OvalGrid",
    "OvalVAE",
    "OvalsConfig",
    "QuadraticSEM",
    "Result",
    "SemvaeConfig",
    "TemporalCausalVAE",
    "TemporalVAELoss",
    "VAELoss",
    "ancestral_sample",
    "anm_log_prob",
    "background",
    "beta_vae_loss",
    "causal_prior_kl",
    "causal_vae_loss",
    "config",
    "decode_from_noise",
    "edge_probabilities",
    "expected_graph_size",
    "extract_graph",
    "extrapolate",
    "gaussian_kl",
    "ink_positions",
    "intervene",
    "linear_sem_moments",
    "linearise_sem",
    "local_gaussian_prior",
    "mario_clips",
    "maximal_dag",
    "monte_carlo_prior_kl",
    "oval_centres",
    "oval_dataset",
    "oval_images",
    "oval_positions",
    "posterior_pivot_kl",
    "prior_kl",
    "propagation_matrix",
    "render_frames",
    "result",
    "sample_edge_mask",
    "sparsity_penalty",
    "sprite_position",
    "standard_normal_kl",
    "structural_hamming_distance",
    "temporal_maximal_dag",
    "temporal_structural_hamming_distance",
    "temporal_vae_loss",
]
