"""Figures of the study, one module per concept; every function draws from data it is given (results objects,
tables, faces) and never trains anything. :mod:`~perturb_lib.figures.io` writes them to disk."""
from .data import (plot_class_distribution, plot_landmark_comparison, plot_perturbation_examples, plot_region_maps,
                   plot_samples)
from .io import save_figure, save_table
from .landmarks import plot_landmark_relevance, plot_reduction
from .saliency import plot_mean_maps, plot_region_heatmaps, plot_saliency_comparison, plot_sanity
from .scheme import (plot_attention, plot_cluster_steps, plot_cluster_sweep, plot_clusters, plot_epoch_maps,
                     plot_training_batch)
from .tables import plot_change_heatmaps, plot_cross_conditions

__all__ = ["plot_attention", "plot_change_heatmaps", "plot_class_distribution", "plot_cluster_steps",
           "plot_cluster_sweep", "plot_clusters", "plot_epoch_maps", "plot_training_batch",
           "plot_cross_conditions", "plot_landmark_comparison", "plot_landmark_relevance", "plot_mean_maps", "plot_perturbation_examples",
           "plot_reduction", "plot_region_heatmaps", "plot_region_maps", "plot_saliency_comparison", "plot_samples",
           "plot_sanity", "save_figure", "save_table"]
