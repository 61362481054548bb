"""The study's experiments. Each turns its notebook's parameters into training runs and analyses, and returns a
small results object (:class:`~perturb_lib.experiments.results.Results`) that is saved in the study folder and
read back by the figures and the report.

* :mod:`~perturb_lib.experiments.data` - notebook 00: the data (:class:`DataResults`);
* :mod:`~perturb_lib.experiments.maskfer` - notebook 01: MaskFer, Table 1, feature removal (:class:`MaskFerResults`);
* :mod:`~perturb_lib.experiments.saliency` - notebook 02: Figure 1 and the saliency checks (:class:`SaliencyResults`);
* :mod:`~perturb_lib.experiments.scheme` - notebook 03: the Perturb Scheme, Figures 4-6, Tables 2-3 (:class:`SchemeResults`);
* :mod:`~perturb_lib.experiments.landmarks` - notebook 04: the second seed paper (:class:`LandmarkResults`).
"""
from .data import DataResults, class_counts, load_faces
from .landmarks import LandmarkResults, explain_emotions, explain_seeds
from .maskfer import MaskFerExperiment, MaskFerResults, maskfer_experiment
from .results import MissingResultsError, Results
from .saliency import SaliencyResults, compare, saliency_experiment
from .scheme import SchemeExperiment, SchemeResults, run_perturb_scheme

__all__ = ["DataResults", "LandmarkResults", "MaskFerExperiment", "MaskFerResults", "MissingResultsError", "Results",
           "SaliencyResults", "SchemeExperiment", "SchemeResults", "class_counts", "compare", "explain_emotions",
           "explain_seeds", "load_faces", "maskfer_experiment", "run_perturb_scheme", "saliency_experiment"]
