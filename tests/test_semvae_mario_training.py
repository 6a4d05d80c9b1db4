"""The Mario experiment of §5.2 / App. F-G: graph target, selection rule, measurements, training."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from causalkit import semvae
from causalkit.core import child_seed
from causalkit.semvae import MarioConfig, mario_clips
from causalkit.semvae.analysis import (
    coefficient_ratios,
    extrapolation,
    graph_shd,
    intervention_consistent,
    intervention_effects,
    reconstruction_accuracy,
    select_run,
    true_latent_graph,
)
from causalkit.semvae.experiment import MarioSweep
from causalkit.semvae.graph import temporal_structural_hamming_distance
from causalkit.semvae.temporal import TemporalCausalVAE
from causalkit.semvae.train import train_temporal_vae

TINY = MarioConfig(clips=40, eval_clips=6, epochs=2, batch_size=20, sparsity_weights=(1.0,))


def test_true_graph_has_two_position_latents_reading_both_earlier_frames():
    graph = true_latent_graph()
    assert graph.shape == (12, 12) and int(graph.sum()) == 4
    assert graph[0, 8] and graph[4, 8] and graph[1, 9] and graph[5, 9]
    # Only frame 3 has parents: the data's SEM has no edge into frames 1 and 2.
    assert not graph[:, :8].any()
    # Which latents carry the position does not matter (App. G: up to a permutation).
    swapped = torch.zeros_like(graph)
    for a in (2, 3):
        swapped[a, 8 + a] = swapped[4 + a, 8 + a] = True
    assert temporal_structural_hamming_distance(swapped, graph, 4) == 0


def test_selection_takes_the_sparsest_graph_among_the_best_reconstructions():
    weights = (0.1, 1.0, 10.0, 100.0)
    assert select_run([0.990, 0.9952, 0.9950, 0.980], weights, 0.0005) == 2
    assert select_run([0.990, 0.9952, 0.9940, 0.980], weights, 0.0005) == 1
    assert select_run([0.99, 0.99, 0.99, 0.99], weights, 0.0) == 3


def test_intervention_check_follows_the_true_sem():
    effects = torch.zeros(12, 3)
    effects[0] = torch.tensor([2.0, 0.0, 2.0])  # frame-1 position latent: frames 1 and 3
    effects[5] = torch.tensor([0.0, 2.1, 4.0])  # frame-2 position latent: frames 2 and 3
    effects[9] = torch.tensor([0.0, 0.0, 3.0])  # frame-3 position latent: frame 3 only
    assert intervention_consistent(effects)
    leaky = effects.clone()
    leaky[0, 1] = 1.0  # a frame-1 latent must not move frame 2
    assert not intervention_consistent(leaky)
    orphan = effects.clone()
    orphan[4, 2] = 1.0  # a latent that does not move its own frame must move nothing
    assert not intervention_consistent(orphan)
    childless = effects.clone()
    childless[5, 2] = 0.0  # x3 = 2 x2 - x1: a frame-2 position must reach frame 3
    assert not intervention_consistent(childless)


def test_coefficient_ratio_reads_the_strongest_parents():
    model = TemporalCausalVAE().eval()
    with torch.no_grad():
        model.sem.weight.zero_()
        model.sem.edge_logits.fill_(-20.0)
        for parent, weight in ((0, -1.1), (4, 2.3), (2, 0.1)):
            model.sem.weight[8, parent] = weight
            model.sem.edge_logits[parent, 8] = 20.0
    assert coefficient_ratios(model) == pytest.approx([2.3 / -1.1])
    assert graph_shd(model) == 3  # one right pair, one edge too many, one pair missing


def test_config_and_arguments_are_checked():
    with pytest.raises(ValueError, match="epochs"):
        MarioConfig(epochs=0)
    with pytest.raises(ValueError, match="sparsity_weights"):
        MarioConfig(sparsity_weights=())
    with pytest.raises(ValueError, match="MarioConfig"):
        semvae.SemvaeConfig(mario={"epochs": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        semvae.config("huge")
    with pytest.raises(ValueError, match="sparsity_weight"):
        train_temporal_vae(TINY, -1.0, 0)


def _sweep(mario: MarioConfig = TINY, seed: int = 3) -> MarioSweep:
    return semvae.result(semvae.config("quick", mario=mario), seed).mario


def test_tiny_training_is_deterministic_and_measurable(tmp_path, monkeypatch):
    sweeps = []
    for cache in ("a", "b"):  # two empty caches: both runs train
        monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / cache))
        sweeps.append(_sweep())
    first, again = sweeps
    run = first.runs[0]
    assert torch.equal(run.history["loss"], again.runs[0].history["loss"])
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name]), name
    other = _sweep(dataclasses.replace(TINY, learning_rate=1e-2))
    assert not torch.equal(run.history["loss"], other.runs[0].history["loss"])
    assert len(run.history["shd"]) == TINY.epochs and not first.model.training
    assert first.sparsity_weights == (1.0,) and first.selected == 0
    assert first.shd == [graph_shd(first.model)] and len(first.edges) == 1
    # What a sweep measures or chooses does not split a run's cache entry.
    measured = _sweep(dataclasses.replace(TINY, eval_clips=7, accuracy_tolerance=0.01))
    assert measured.runs[0].train_seconds == again.runs[0].train_seconds

    clips = semvae.result(semvae.config("quick", mario=TINY), 3).eval_clips
    assert len(clips) == TINY.eval_clips
    # Held out: drawn from another child seed than the run's training clips.
    training = mario_clips(TINY.eval_clips, child_seed(3, "mario", "train-clips"))
    assert not torch.equal(clips.positions, training.positions)
    assert first.accuracy == [reconstruction_accuracy(first.model, clips)]
    assert 0 < first.accuracy[0] <= 1
    effects = intervention_effects(first.model, clips)
    assert effects.shape == (12, 3)
    future = extrapolation(first.model, clips, k=2)
    assert future["frames"].shape == (6, 2, 3, 20, 20) and future["error_px"].shape == (2,)
    # The truth continues the motion: frame 3 of the data is the first step ahead.
    assert torch.equal(future["truth"][:, 0], clips.positions[:, 2])
