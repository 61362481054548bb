"""Notebook parameters are validated by the library, with messages that name the parameter and the choices."""
import pytest

from perturb_lib import params
from perturb_lib.params import ParameterError, check_parameters, defaults


def ns(notebook, **changes):
    values = defaults(notebook)
    values.update(changes)
    return values


def test_defaults_pass_and_are_coerced():
    p = check_parameters("01_maskfer_degradation", ns("01_maskfer_degradation", size=1, seeds="0,1"))
    assert p.size == 1.0 and isinstance(p.size, float) and p.seeds == [0, 1]


def test_modules_functions_and_private_names_are_not_parameters():
    import os
    values = ns("00_data", os=os, helper=len, _private=1, In=[], Out={})
    assert check_parameters("00_data", values).dataset == "synthetic"


@pytest.mark.parametrize("changes, message", [
    ({"epoch": 3}, r"01_maskfer_degradation: unknown parameter\(s\) epoch; this notebook takes: dataset, data_path"),
    ({"epochs": "ten"}, r"parameter 'epochs' must be int, got str 'ten'"),
    ({"seeds": [0, "a"]}, r"parameter 'seeds' must be int, got str 'a'"),
    ({"width": None}, r"parameter 'width' must not be None"),
    ({"models": ["vgg16", "vgg19"]}, r"parameter 'models': 'vgg19' is not valid; choose from vgg16, resnet18"),
    ({"dataset": "affectnet"}, r"parameter 'dataset': 'affectnet' is not valid; choose from synthetic, fer2013, ferplus"),
    ({"mask_style": "kn95"}, r"parameter 'mask_style': 'kn95' is not valid; choose from n95, surgical, cloth"),
    ({"removal_regions": ["ears"]}, r"'ears' is not valid; choose from eyes, brows, nose, mouth"),
    ({"dataset": "fer2013"}, r"parameter 'data_path' is required for dataset='fer2013'"),
    ({"dataset": "fer2013", "data_path": "/no/such/fer2013.csv"}, r"parameter 'data_path': /no/such/fer2013.csv does not exist"),
    ({"landmark_source": "file"}, r"parameter 'landmark_file' is required for landmark_source='file'"),
    ({"test_split": "PublicTest"}, r"'val_split' and 'test_split' must differ"),
])
def test_bad_parameters_are_rejected_with_a_clear_message(changes, message):
    with pytest.raises(ParameterError, match=message):
        check_parameters("01_maskfer_degradation", ns("01_maskfer_degradation", **changes))


def test_parameters_of_another_notebook_are_accepted_but_unused():
    p = check_parameters("00_data", ns("00_data", n_clusters=5))  # a study parameter, used by notebook 03
    assert not hasattr(p, "n_clusters")


def test_every_notebook_has_a_spec_and_names_are_consistent():
    from perturb_lib.study import NOTEBOOKS
    assert set(params.NOTEBOOK_PARAMS) == set(NOTEBOOKS)
    kinds = {}
    for spec in params.NOTEBOOK_PARAMS.values():
        for p in spec:  # one name, one meaning: the same name has the same kind and default everywhere
            assert kinds.setdefault(p.name, (p.kind, repr(p.default))) == (p.kind, repr(p.default)), p.name


def test_profiles_validate_for_every_notebook(tmp_path):
    """Every profile is a valid parameter set for every notebook; the cpu profile is the notebooks' defaults."""
    from perturb_lib.study import NOTEBOOKS, load_profile, notebook_parameters
    fake = tmp_path / "fer2013.csv"
    fake.write_text("emotion,pixels,Usage\n")
    for profile in ("cpu", "smoke", "paper"):
        values = {**load_profile(profile), "data_path": str(fake)}
        for nb in NOTEBOOKS:
            check_parameters(nb, {**defaults(nb), **notebook_parameters(nb, values)})
    for nb in NOTEBOOKS:
        assert {**defaults(nb), **notebook_parameters(nb, load_profile("cpu"))} == defaults(nb), nb
