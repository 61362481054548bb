"""The golden evaluation: a tiny fixed model's logits on 14 fixed faces under every test-time policy and every
test-time augmentation, against the values committed in ``tests/golden/evaluation.npz``.

Stored evaluations are keyed by what they computed and by ``perturb_lib.evaluate.EVAL_VERSION``, not by a hash of the
code, so an edit that changes no output keeps them. An edit that changes outputs (``predict``, a policy's test-time
views, the crops, the normalisation, a model's layers) must bump the version; this test fails until it does, and
says so. To bump: raise ``EVAL_VERSION`` by one, then ``python tests/test_evaluation_golden.py --write``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).parent / "golden" / "evaluation.npz"
POLICIES = {
    "clean": {"kind": "clean"},
    "mask-n95": {"kind": "mask", "style": "n95", "seed": 0},
    "mask-surgical": {"kind": "mask", "style": "surgical", "seed": 0},
    **{f"remove-{r}": {"kind": "remove", "region": r, "fill": "mean"}
       for r in ("eyes", "brows", "nose", "mouth", "upper_face", "lower_face")},
    "remove-mouth-blur": {"kind": "remove", "region": "mouth", "fill": "blur"},
    "remove-mouth-noise": {"kind": "remove", "region": "mouth", "fill": "noise"},
    "perturb-sum-per-image": {"kind": "perturb", "phase1": "golden-phase1", "test_policy": "sum",
                              "cluster_scope": "per_image", "cluster_sample": 8},
}
TTA = ("none", "flip", "tencrop")
TOLERANCE = dict(rtol=1e-4, atol=1e-4)  # fp32 on another CPU differs in its last bits, an edit by far more


def golden_logits(images: np.ndarray, landmarks: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """``{"<policy>/<tta>": logits (N, C)}`` of the fixed models on these faces (all in the test split)."""
    from perturb_lib.data import FaceSet
    from perturb_lib.evaluate import predict
    from perturb_lib.execution import Settings
    from perturb_lib.models import attention_maps, build_model
    from perturb_lib.params import Recipe
    from perturb_lib.policies import make_policy, split_tensors
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = sensitive(build_model("vgg16", width=0.0625, dropout=0.0), seed=0)
        phase1 = sensitive(build_model("vgg16", width=0.0625, dropout=0.0, attention=True), seed=1)
        n = len(images)
        faces = FaceSet(images, labels, np.full(n, 2), [f"g{i:02d}" for i in range(n)], landmarks=landmarks,
                        name="golden")
        device, settings = torch.device("cpu"), Settings(device="cpu", precision="fp32", eval_batch_size=8)
        out = {}
        for name, spec in POLICIES.items():
            for tta in TTA:
                if tta == "tencrop" and name not in ("clean", "mask-n95"):
                    continue
                policy = make_policy(spec, lambda x: attention_maps(phase1, x))
                split = split_tensors(faces, "PrivateTest", device)
                policy.prepare(split)
                out[f"{name}/{tta}"] = predict(model, split, policy, Recipe(tta=tta), settings, device).numpy()
        return out
    finally:
        torch.set_num_threads(threads)


def sensitive(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A fixed untrained model whose logits depend on its input: He-initialised layers keep the signal's scale through
    the network (with torch's default initialisation and fresh BatchNorm statistics it fades to a constant)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return model.eval()


def write() -> None:
    """Write the golden file: 2 synthetic test faces per emotion, their landmarks, and the logits."""
    from perturb_lib.data import make_synthetic_faces
    from perturb_lib.data.faces import pick_per_emotion
    from perturb_lib.evaluate import EVAL_VERSION
    from perturb_lib.io import save_npz
    faces = make_synthetic_faces(size=0.01, seed=0).split("PrivateTest")
    pick = pick_per_emotion(faces.labels, 2, seed=0)
    images, landmarks, labels = faces.images[pick], faces.landmarks[pick], faces.labels[pick]
    logits = golden_logits(images, landmarks, labels)
    save_npz(GOLDEN, {"images": images, "landmarks": landmarks, "labels": labels,
                      "eval_version": np.array(EVAL_VERSION), **{f"logits/{k}": v for k, v in logits.items()}},
             compressed=True)
    print(f"wrote {GOLDEN} for EVAL_VERSION {EVAL_VERSION} ({len(logits)} evaluations)")


def test_evaluations_match_the_golden_values_of_their_version():
    from perturb_lib.evaluate import EVAL_VERSION
    with np.load(GOLDEN) as z:
        golden = {k: z[k] for k in z.files}
    assert int(golden["eval_version"]) == EVAL_VERSION, (
        f"EVAL_VERSION is {EVAL_VERSION} but {GOLDEN.name} holds version {int(golden['eval_version'])}'s values: "
        "regenerate it with `python tests/test_evaluation_golden.py --write`")
    logits = golden_logits(golden["images"], golden["landmarks"], golden["labels"])
    expected = {k[len("logits/"):]: v for k, v in golden.items() if k.startswith("logits/")}
    assert sorted(logits) == sorted(expected), "the evaluations computed are not those of the golden file"
    changed = [k for k in expected if not np.allclose(logits[k], expected[k], **TOLERANCE)]
    assert not changed, (
        f"evaluation outputs changed ({', '.join(changed)}): every stored evaluation of version {EVAL_VERSION} was "
        "computed by the old code. If the change is meant, bump EVAL_VERSION in perturb_lib/evaluate.py (stored "
        "evaluations are then computed again) and regenerate the golden file: `python tests/test_evaluation_golden.py "
        "--write`. A change to a model's layers changes what every record trained: bump RECORD_VERSION "
        "(perturb_lib/runs.py) too.")


def test_the_golden_faces_differ_under_each_policy():
    """The golden file can fail: each policy's logits differ from the clean ones (a policy that did nothing would
    not guard its code)."""
    with np.load(GOLDEN) as z:
        clean = z["logits/clean/none"]
        for name in POLICIES:
            if name != "clean":
                assert not np.allclose(z[f"logits/{name}/none"], clean, **TOLERANCE), name
        assert not np.allclose(z["logits/clean/flip"], clean, **TOLERANCE)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.exit("usage: python tests/test_evaluation_golden.py --write")
