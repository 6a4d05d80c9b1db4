"""Unsupervised Learning of Causal Relationships from Unstructured Data: a VAE whose prior is a SEM.

:mod:`causalkit.semvae.sem` holds the maths: mean and covariance propagation of a linear
additive-noise SEM (Thm. 2), its linearisation at a pivot (Thm. 3), the Gaussian KL of the
ELBO, the maximal DAG (Prop. 1), Gumbel-softmax edge masks and the sparsity term (§4.5), and
the structural Hamming distance of App. G.
"""

from causalkit.semvae.mario import (
    MARIO_SPRITE,
    POSITION_VARIABLES,
    MarioClips,
    background,
    mario_clips,
    render_frames,
    sprite_position,
)
from causalkit.semvae.ovals import (
    OVAL_FACTORS,
    QUICK_OVAL_GRID,
    OvalDataset,
    OvalGrid,
    oval_centres,
    oval_dataset,
    oval_images,
    oval_positions,
)
from causalkit.semvae.sem import (
    ancestral_sample,
    edge_probabilities,
    expected_graph_size,
    extract_graph,
    gaussian_kl,
    linear_sem_moments,
    linearise_sem,
    local_gaussian_prior,
    maximal_dag,
    propagation_matrix,
    sample_edge_mask,
    sparsity_penalty,
    structural_hamming_distance,
    temporal_maximal_dag,
    temporal_structural_hamming_distance,
)

__all__ = [
    "MARIO_SPRITE",
    "OVAL_FACTORS",
    "POSITION_VARIABLES",
    "QUICK_OVAL_GRID",
    "MarioClips",
    "OvalDataset",
    "OvalGrid",
    "ancestral_sample",
    "background",
    "edge_probabilities",
    "expected_graph_size",
    "extract_graph",
    "gaussian_kl",
    "linear_sem_moments",
    "linearise_sem",
    "local_gaussian_prior",
    "mario_clips",
    "maximal_dag",
    "oval_centres",
    "oval_dataset",
    "oval_images",
    "oval_positions",
    "propagation_matrix",
    "render_frames",
    "sample_edge_mask",
    "sparsity_penalty",
    "sprite_position",
    "structural_hamming_distance",
    "temporal_maximal_dag",
    "temporal_structural_hamming_distance",
]
