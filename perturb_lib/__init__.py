"""perturb_lib: the reproducible study of "Leaving Some Facial Features Behind".

Modules, one concept each:

* :mod:`perturb_lib.data` - FaceSet, FER2013 loaders, synthetic action-unit faces
* :mod:`perturb_lib.landmarks` - 68-point layout, offline providers, region masks
* :mod:`perturb_lib.perturb` - MaskFer masks and facial-feature removal (input policies)
* :mod:`perturb_lib.models` - the model zoo (VGG16, ResNet, DenseNet, DPN, ResMaskingNet, CBAM gate)
* :mod:`perturb_lib.train` - the training loop and evaluation; :mod:`perturb_lib.runs` - run records
* :mod:`perturb_lib.cluster`, :mod:`perturb_lib.scheme` - the Perturb Scheme
* :mod:`perturb_lib.saliency` - Captum attributions, region attribution, sanity checks
* :mod:`perturb_lib.landmark_models` - per-emotion landmark classifiers and dataset-level IG
* :mod:`perturb_lib.figures`, :mod:`perturb_lib.report` - figures and tables from run records
* :mod:`perturb_lib.study`, :mod:`perturb_lib.params`, :mod:`perturb_lib.grid` - running the study
"""
__version__ = "0.1.0"
