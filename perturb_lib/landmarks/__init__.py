"""Facial landmarks: where they come from (providers) and the regions drawn from them.

* :mod:`~perturb_lib.landmarks.layout` - the 68-point iBUG layout and the template face;
* :mod:`~perturb_lib.landmarks.regions` - eyes, brows, nose, mouth, face halves as anti-aliased masks;
* :mod:`~perturb_lib.landmarks.template` - the mean-face template fitted to registered crops;
* :mod:`~perturb_lib.landmarks.providers` - every provider by name (:func:`landmarks_for`).
"""
from .layout import GROUPS, TEMPLATE, TEMPLATE_EYE_DISTANCE
from .providers import PROVIDERS, landmarks_for, load_landmark_file, save_landmark_file
from .regions import MAP_REGIONS, REGIONS, face_outline, face_scale, face_up, region_map, region_masks
from .template import fit_template

__all__ = ["GROUPS", "MAP_REGIONS", "PROVIDERS", "REGIONS", "TEMPLATE", "TEMPLATE_EYE_DISTANCE", "face_outline",
           "face_scale", "face_up", "fit_template", "landmarks_for", "load_landmark_file", "region_map",
           "region_masks", "save_landmark_file"]
