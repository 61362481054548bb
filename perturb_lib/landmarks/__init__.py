"""Facial landmarks: where they come from (providers) and the regions drawn from them.

* :mod:`~perturb_lib.landmarks.layout` - dlib's 68-point and MediaPipe's 468-point layouts, the template face;
* :mod:`~perturb_lib.landmarks.regions` - eyes, brows, nose, mouth, face halves as anti-aliased masks;
* :mod:`~perturb_lib.landmarks.template` - the mean-face template fitted to registered crops;
* :mod:`~perturb_lib.landmarks.detectors` - dlib and MediaPipe, offline;
* :mod:`~perturb_lib.landmarks.providers` - every provider by name (:func:`landmarks_for`, :func:`detected`).
"""
from .layout import GROUPS, IBUG68, MEDIAPIPE468, TEMPLATE, TEMPLATE_EYE_DISTANCE, Layout, layout_of
from .providers import (INSTALL, PROVIDERS, choose, detected, landmarks_for, load_landmark_file, save_landmark_file,
                        timing)
from .regions import MAP_REGIONS, REGIONS, face_outline, face_scale, face_up, region_map, region_masks
from .template import fit_template

__all__ = ["GROUPS", "IBUG68", "INSTALL", "MAP_REGIONS", "MEDIAPIPE468", "PROVIDERS", "REGIONS", "TEMPLATE",
           "TEMPLATE_EYE_DISTANCE", "Layout", "choose", "detected", "face_outline", "face_scale", "face_up",
           "fit_template", "landmarks_for", "layout_of", "load_landmark_file", "region_map", "region_masks",
           "save_landmark_file", "timing"]
