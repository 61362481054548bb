"""Comparing a fresh study with the committed one: cells outside the committed prediction interval are listed."""
import json

from perturb_lib.compare import compare_studies, main


def doc(means, preds):
    rows = [{"row": r, "column": "vgg16", "mean": m, "ci": 1.0, "pred": p, "seeds": 3, "test_faces": 50, "few": True,
             "verdict": "decrease"} for r, m, p in zip(["Angry", "Happy", "Sad"], means, preds)]
    return {"dataset": "synthetic", "table1": {"__frame__": rows}, "seeds": [0, 1, 2]}


def test_an_asymmetric_interval_is_read_by_its_bounds(tmp_path):
    committed = doc([-50.0, -30.0, -5.0], [None, None, None])
    for row, (lo, hi) in zip(committed["table1"]["__frame__"], [(-70, -20), (-40, -10), (-20, 30)]):
        row.update(pred_lo=lo, pred_hi=hi)
    (tmp_path / "maskfer.json").write_text(json.dumps(doc([-22.0, -45.0, 25.0], [1.0, 1.0, 1.0])))
    table = compare_studies(tmp_path, {"maskfer.json": committed})
    # -22 is inside [-70, -20] though 28 points from -50; -45 is outside [-40, -10]; 25 inside [-20, 30]
    assert list(table["outcome"]) == ["inside", "outside", "inside"]


def test_cells_outside_the_committed_prediction_interval_are_listed(tmp_path, capsys):
    committed = {"maskfer.json": doc([-20.0, -30.0, -5.0], [10.0, 4.0, None])}
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "maskfer.json").write_text(json.dumps(doc([-29.0, -35.0, -50.0], [9.0, 9.0, 9.0])))
    table = compare_studies(tmp_path / "fresh", committed)
    outcome = dict(zip(table["cell"], table["outcome"]))
    # by hand: |-29 - -20| = 9 <= 10 inside; |-35 - -30| = 5 > 4 outside; no committed interval for Sad
    assert outcome == {"Angry, vgg16": "inside", "Happy, vgg16": "outside", "Sad, vgg16": "no interval"}
    (tmp_path / "committed").mkdir()
    (tmp_path / "committed" / "maskfer.json").write_text(json.dumps(committed["maskfer.json"]))
    assert main(["--fresh", str(tmp_path / "fresh"), "--committed", str(tmp_path / "committed")]) == 1
    out = capsys.readouterr().out
    assert "3 cells compared: 1 inside, 1 outside, 1 no interval" in out
    assert "maskfer.table1 [Happy, vgg16]: fresh -35.00, committed -30.00 (one more run: -34.00 to -26.00)" in out
