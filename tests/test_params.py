"""Parameters: one dataclass per notebook, validated with messages that name the parameter and the choices."""
import pytest

from perturb_lib import params
from perturb_lib.params import NOTEBOOKS, MaskFerNotebook, ParameterError, from_notebook


def test_values_are_coerced_including_papermills_text():
    p = MaskFerNotebook(size=1, seeds="0,1", epochs="3")
    assert p.size == 1.0 and isinstance(p.size, float) and p.seeds == [0, 1] and p.epochs == 3
    assert MaskFerNotebook(seeds="[0]").seeds == [0]  # `papermill -p seeds "[0]"` passes the text "[0]"
    assert MaskFerNotebook(models="vgg16,resnet18").models == ["vgg16", "resnet18"]
    assert MaskFerNotebook(maskfer_path="None").maskfer_path is None


def test_modules_functions_and_private_names_are_not_parameters():
    import os
    values = {**params.DataNotebook.defaults(), "os": os, "helper": len, "_private": 1, "In": [], "Out": {}}
    assert from_notebook(params.DataNotebook, values).dataset == "synthetic"


@pytest.mark.parametrize("changes, message", [
    ({"epoch": 3}, r"MaskFerNotebook: unknown parameter\(s\) epoch; it takes: models, mask_style, maskfer_path"),
    ({"epochs": "ten"}, r"parameter 'epochs' must be int, got str 'ten'; with papermill write it as -y"),
    ({"seeds": [0, "a"]}, r"parameter 'seeds' must be a list of int, got \[0, 'a'\]"),
    ({"seeds": "0 1"}, r"parameter 'seeds' must be a list of int, got \['0 1'\]; with papermill write a list as -y \"seeds: \[...\]\""),
    ({"width": None}, r"parameter 'width' must not be None"),
    ({"models": ["vgg16", "vgg19"]}, r"parameter 'models': 'vgg19' is not valid; choose from vgg16, resnet18"),
    ({"dataset": "affectnet"}, r"parameter 'dataset': 'affectnet' is not valid; choose from synthetic, fer2013, ferplus"),
    ({"mask_style": "kn95"}, r"parameter 'mask_style': 'kn95' is not valid; choose from n95, surgical, cloth"),
    ({"removal_regions": ["ears"]}, r"'ears' is not valid; choose from eyes, brows, nose, mouth"),
    ({"dataset": "fer2013"}, r"parameter 'data_path' is required for dataset='fer2013'"),
    ({"dataset": "fer2013", "data_path": "/no/such/fer2013.csv"}, r"parameter 'data_path': /no/such/fer2013.csv does not exist"),
    ({"landmark_source": "file"}, r"parameter 'landmark_file' is required for landmark_source='file'"),
    ({"test_split": "PublicTest"}, r"'val_split' and 'test_split' must differ"),
    ({"removal_model": "resnet18"}, r"parameter 'removal_model': 'resnet18' is not one of models \['vgg16'\]"),
    ({"seeds": [0, 1], "removal_train_seeds": [1, 2, 3]},
     r"parameter 'removal_train_seeds': seeds \[2, 3\] are not among vgg16's seeds \[0, 1\]"),
    ({"model_seeds": {"vgg16": [1]}},
     r"parameter 'removal_train_seeds': seeds \[0\] are not among vgg16's seeds \[1\]"),
])
def test_bad_parameters_are_rejected_with_a_clear_message(changes, message):
    with pytest.raises(ParameterError, match=message):
        MaskFerNotebook.from_values(changes)


def test_removal_twins_are_checked_only_when_removal_runs_are_trained():
    assert MaskFerNotebook.from_values({"removal_train_regions": [], "removal_model": "resnet18"}).removal_model == "resnet18"
    assert MaskFerNotebook.from_values({"seeds": [3], "removal_train_seeds": [3]}).removal_train_seeds == [3]


def test_parameters_of_another_notebook_are_accepted_but_unused():
    p = params.DataNotebook.from_values({"n_clusters": 5})  # a study parameter, used by notebook 03
    assert not hasattr(p, "n_clusters")


def test_one_name_one_meaning_across_notebooks():
    seen = {}
    for cls in NOTEBOOKS.values():
        docs, types = cls.docs(), cls.type_names()
        for name, default in cls.defaults().items():
            assert seen.setdefault(name, (types[name], repr(default), docs[name])) == (types[name], repr(default),
                                                                                      docs[name]), name


def test_choice_lists_match_the_registries_that_implement_them():
    from perturb_lib import data, landmarks, models, saliency
    from perturb_lib.data.faces import EMOTIONS
    assert params.MODELS == tuple(models.MODELS)
    assert params.ATTENTION_MODELS == models.ATTENTION_MODELS
    assert params.SALIENCY_METHODS == tuple(saliency.METHODS)
    assert params.DATASETS == data.DATASETS
    assert params.EMOTION_NAMES == EMOTIONS
    assert set(params.LANDMARK_SOURCES) == {"auto", *landmarks.PROVIDERS}
    assert set(params.REMOVAL_REGIONS) <= set(landmarks.REGIONS)


def test_profiles_validate_for_every_notebook_and_hold_only_differences(tmp_path):
    from perturb_lib.pipeline import load_profile, notebook_parameters
    fake = tmp_path / "fer2013.csv"
    fake.write_text("emotion,pixels,Usage\n")
    for profile in ("cpu", "smoke", "paper", "fer2013-cpu"):
        values = load_profile(profile)
        for nb, cls in NOTEBOOKS.items():
            given = notebook_parameters(nb, {**values, "data_path": str(fake)})
            cls.from_values(given)
            same = {k for k, v in given.items() if k != "data_path" and v == cls.defaults()[k]}
            assert not same, f"profiles/{profile}.yaml repeats defaults: {sorted(same)}"
