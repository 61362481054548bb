"""The Perturb Scheme: Eq. 1, batched k-means, clusters on synthetic faces, masking policies, phase reuse."""
import numpy as np
import pandas as pd
import pytest
import torch

from perturb_lib.execution import Settings
from perturb_lib.experiments import scheme
from perturb_lib.models import attention_maps
from perturb_lib.params import SchemeOptions
from perturb_lib.policies import SplitTensors, make_policy
from perturb_lib.policies import clusters as cluster
from perturb_lib.runs import StudyContext
from perturb_lib.train import TrainConfig


CPU = Settings(device="cpu", progress="off", precision="fp32")


def test_eq1_features_match_a_hand_computation():
    intensity = torch.zeros(1, 3, 4)
    intensity[0, 2, 1] = 0.8  # pixel at row 2, column 1
    feats = cluster.pixel_features(intensity, lam=1.5, alpha=1.2)
    assert feats.shape == (1, 12, 3)
    p = feats[0, 2 * 4 + 1]  # row-major
    torch.testing.assert_close(p, torch.tensor([1.5 * (1 / 3), 1.5 * 1.0, 1.2 * 0.8]))
    q = feats[0, 0]  # row 0, column 0, intensity 0
    by_hand = np.sqrt((1.5 * (1 / 3 - 0)) ** 2 + (1.5 * (1 - 0)) ** 2 + (1.2 * (0.8 - 0)) ** 2)
    assert float((p - q).norm()) == pytest.approx(by_hand, rel=1e-6)  # Eq. 1 is the features' Euclidean distance


def test_kmeans_recovers_planted_clusters_in_a_batch():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.0, 8.0]])
    truth = torch.arange(3).repeat_interleave(50)
    problems = []
    for b in range(4):  # four independent problems, shifted differently
        pts = centers[truth] + 0.3 * torch.randn(150, 2, generator=g) + b * 10
        problems.append(pts[torch.randperm(150, generator=g)] if b % 2 else pts)
    x = torch.stack(problems)
    found, labels = cluster.kmeans(x, 3, generator=torch.Generator().manual_seed(1))
    for b in range(4):
        ordered = x[b]
        for c in range(3):  # every planted cluster is one found cluster
            member = ((ordered[:, None] - (centers[c] + b * 10)).norm(dim=-1) < 2)[:, 0]
            assert labels[b][member].unique().numel() == 1
        assert torch.cdist(found[b], centers + b * 10).amin(0).max() < 0.3


def test_clusters_find_facial_features_better_than_chance(trained_attention):
    """With n = 3 and a briefly trained attention model, a cluster sits on a facial feature far above chance.

    Which feature depends on the model: over seeds and thread counts the best cluster was the mouth or the nose
    (4.5-10x its share of the image), so the test asks for one of the expressive regions, not for the mouth.
    """
    study, run, faces = trained_attention
    record = scheme.phase2_record(run, faces, SchemeOptions(n_clusters=3), CPU)
    shared = record["shared_map"]
    assert set(np.unique(shared)) == {-1, 0, 1, 2}
    face_share = cluster.face_pixels(torch.as_tensor(faces.landmarks[faces.splits == 0])).float().mean(0).numpy()
    assert face_share[shared >= 0].min() > 0.3  # only pixels inside (most) faces are clustered ...
    assert 0.1 < (shared >= 0).mean() < 0.2  # ... the top 20 % of them, not 20 % of the image
    best = max(record["overlap_shared"], key=lambda o: o["precision"] / o["chance"])
    assert best["region"] in ("eyes", "mouth", "nose", "brows")
    assert best["precision"] > 3 * best["chance"], record["overlap_shared"]
    own = record["per_image_maps"]
    assert ((own >= 0).mean((1, 2)) > 0.05).all()  # every face has its own clusters too
    again = scheme.phase2_record(run, faces, SchemeOptions(n_clusters=3), CPU)  # phase 2 is reused, not redone
    np.testing.assert_array_equal(again["shared_map"], shared)


def test_cached_clusters_are_keyed_by_the_code_that_made_them(trained_attention, monkeypatch):
    study, run, faces = trained_attention
    options = SchemeOptions(n_clusters=2, cluster_sample=32)
    first = scheme.phase2_record(run, faces, options, CPU, examples=4)
    assert len(list(run.dir.glob("clusters-*.npz"))) >= 1
    stored = set(run.dir.glob("clusters-*.npz"))
    scheme.phase2_record(run, faces, options, CPU, examples=4)
    assert set(run.dir.glob("clusters-*.npz")) == stored  # unchanged code: read back
    real = scheme.shared_cluster_map
    monkeypatch.setattr(scheme, "shared_cluster_map", lambda *a, **k: real(*a, **k).clamp(max=0))  # an edit
    edited = scheme.phase2_record(run, faces, options, CPU, examples=4)
    assert len(set(run.dir.glob("clusters-*.npz")) - stored) == 1  # computed again, stored apart
    assert set(np.unique(edited["shared_map"])) == {-1, 0} and set(np.unique(first["shared_map"])) == {-1, 0, 1}


def _split(faces, n=8):
    return SplitTensors("Training", torch.as_tensor(faces.images[:n]), torch.as_tensor(faces.labels[:n]),
                        torch.as_tensor(faces.landmarks[:n]), faces.ids[:n])


@pytest.mark.parametrize("masking, test, inputs_per_face, views", [("random", "plain", 1, 1), ("copies", "sum", 4, 4)])
def test_masking_policies(trained_attention, masking, test, inputs_per_face, views):
    study, run, small_faces = trained_attention
    model = run.model()
    pol = make_policy({"kind": "perturb", "phase1": run.name, "n_clusters": 3, "masking": masking, "test_policy": test,
                       "fill_value": 0.25, "cluster_sample": 32}, attention=lambda x: attention_maps(model, x))
    split = _split(small_faces)
    pol.prepare(split)
    g = torch.Generator().manual_seed(0)
    pol.on_epoch_start(0, split, g)
    idx = torch.arange(8)
    x = split.batch(idx)
    out, y = pol.train_inputs(x, split.labels[idx], split, idx, g)
    assert out.shape == (8 * inputs_per_face, 1, 48, 48) and len(y) == 8 * inputs_per_face
    shared = pol.map
    changed = (out.reshape(inputs_per_face, 8, 48, 48) != x[:, 0][None]).numpy()
    for k in range(inputs_per_face):
        for i in range(8):
            diff = changed[k, i]
            if diff.any():  # exactly one cluster's pixels, all set to the fill value
                hit = np.unique(shared.numpy()[diff])
                assert len(hit) == 1 and hit[0] >= 0
                cl = shared.numpy() == hit[0]
                assert np.allclose(out.reshape(inputs_per_face, 8, 48, 48)[k, i].numpy()[cl], 0.25)
    if masking == "copies":
        assert not changed[0].any()  # the first copy is the face itself
        assert all(changed[k].any() for k in range(1, 4))
    assert pol.views == views
    ev = pol.eval_views(x, split, idx)
    assert ev.shape[0] == 8 * views
    stats = pol.epoch_stats()
    assert stats["cluster_seconds"] > 0 and pol.epoch_stats()["cluster_seconds"] == 0


def test_scheme_end_to_end_reuses_finished_phases(tiny_faces, tmp_path, monkeypatch):
    base = TrainConfig(model="vgg16", width=0.0625, dropout=0.0, epochs=2, lr=0.02)
    options = SchemeOptions(cluster_sample=32)
    first = scheme.run_perturb_scheme(base, StudyContext.of(tiny_faces, tmp_path, settings=CPU), options=options)
    assert first.phase1.config["attention"] and first.perturb.config["policy"]["phase1"] == first.phase1.name
    assert "cluster_seconds" in first.perturb.history
    import perturb_lib.train as train_mod
    monkeypatch.setattr(train_mod, "build_model", lambda *a, **k: pytest.fail("a finished phase was retrained"))
    again = scheme.run_perturb_scheme(base, StudyContext.of(tiny_faces, tmp_path, settings=CPU), options=options)
    assert (again.phase1.dir, again.perturb.dir, again.baseline.dir) == (first.phase1.dir, first.perturb.dir,
                                                                         first.baseline.dir)
    assert again.perturb.metrics == first.perturb.metrics


def test_code_variant_options_run(tiny_faces, tmp_path):
    base = TrainConfig(model="vgg16", width=0.0625, dropout=0.0, epochs=1, lr=0.02)
    runs = scheme.run_perturb_scheme(base, StudyContext.of(tiny_faces, tmp_path, settings=CPU),
                                     options=SchemeOptions.code(cluster_scope="per_image"))
    assert runs.perturb.config["policy"]["masking"] == "copies" and runs.perturb.finished
    with pytest.raises(ValueError, match="'masking': 'all' is not valid; choose from random, copies"):
        make_policy({"kind": "perturb", "phase1": "x", "masking": "all"})


def test_cluster_locations_count_each_clusters_pixels_by_region():
    """Hand-made, a 2x3 image: pixel (0, 0) is an eye in every face, (0, 1) in half of them (the eyes: 1.5 / 6 = 25 %
    of the image), pixel (1, 2) a mouth in a fifth of them (the mouth: 3.3 %), the rest elsewhere. A cluster of the
    top two pixels is 75 % eyes, three times their share of the image: on the eyes; the bottom row is 6.7 % mouth,
    twice its share: on the mouth; a cluster of (1, 0) alone holds no region: elsewhere."""
    probability = np.zeros((5, 2, 3))
    probability[0, 0, 0], probability[0, 0, 1], probability[3, 1, 2] = 1.0, 0.5, 0.2
    probability[4] = 1 - probability[:4].sum(0)
    shared = np.array([[0, 0, -1], [2, 1, 1]])
    loc = scheme.cluster_locations(shared, probability).set_index("cluster")
    assert loc.loc[0, "eyes"] == 0.75 and loc.loc[0, "dominant"] == "eyes"
    assert loc.loc[1, "mouth"] == 0.1 and loc.loc[1, "dominant"] == "mouth"  # 0.1 / (0.2 / 6) = 3 times its share
    assert loc.loc[2, "elsewhere"] == 1.0 and loc.loc[2, "dominant"] == "elsewhere"
    assert list(loc["pixels"]) == [2, 2, 1]
    loc = loc.reset_index()
    assert scheme.configuration(loc) == "elsewhere, eyes, mouth"
    two = loc.iloc[:2].assign(dominant=["eyes", "eyes"])
    assert not scheme.paper_configuration(two)  # two clusters only
    assert scheme.paper_configuration(pd.concat([two, two.iloc[:1].assign(dominant="nose")]))
    assert not scheme.paper_configuration(pd.concat([two, two.iloc[:1].assign(dominant="brows")]))


def test_region_probability_puts_each_pixel_in_one_region_per_face(tiny_faces):
    p = scheme.region_probability(tiny_faces.landmarks[:20])
    assert p.shape == (5, 48, 48) and np.allclose(p.sum(0), 1) and p.min() >= 0
    eyes, mouth = p[0], p[3]
    assert np.unravel_index(eyes.argmax(), eyes.shape)[0] < np.unravel_index(mouth.argmax(), mouth.shape)[0]


def test_variants_pair_with_their_own_baselines_and_their_clusters_are_located(tmp_path, tiny_faces):
    """A variant of the scheme's options shares the study's phase 1 and baseline; a variant of the recipe trains its
    own; each Perturb run records its shared maps, and the locations read the kept epoch's."""
    from perturb_lib.params import SchemeNotebook
    P = SchemeNotebook(perturb_models=["vgg16"], perturb_seeds=[0], sweep_seeds=[], cluster_sweep=[], epochs=1,
                       width=0.0625, precision="fp32", progress="off", cluster_sample=32,
                       study_dir=str(tmp_path / "study"), cache_dir=str(tmp_path / "cache"),
                       scheme_variants={"code": {"cluster_features": "attention", "cluster_selection": "all"},
                                        "longer": {"epochs": 2}}, variant_seeds=[0])
    exp = scheme.SchemeExperiment(P, tiny_faces, tiny_faces.landmarks)
    exp.train()
    assert exp.runs["baseline@code/vgg16/0/0"].name == exp.runs["baseline/vgg16/0/0"].name
    assert exp.runs["phase1@longer/vgg16/0/0"].name != exp.runs["phase1/vgg16/0/0"].name
    assert exp.runs["perturb@longer/vgg16/0/0"].config["epochs"] == 2
    assert "-perturb-n3-shared-random-attention-all-" in exp.runs["perturb@code/vgg16/0/0"].name
    table = exp.variants()
    assert list(table["variant"]) == ["paper", "code", "longer"] and list(table["recipe"]) == [False, False, True]
    assert (table["seeds"] == 1).all() and table["delta acc"].notna().all()
    locations = exp.locations()
    assert sorted(set(locations["variant"])) == ["code", "longer", "paper"]
    shares = locations[list(scheme.LOCATION_REGIONS) + [scheme.ELSEWHERE]].sum(axis=1)
    np.testing.assert_allclose(shares, 1.0, atol=1e-3)
    with np.load(exp.runs["perturb@longer/vgg16/0/0"].dir / "policy.npz") as z:
        assert z["shared_maps"].shape == (2, 48, 48)  # one map per epoch
