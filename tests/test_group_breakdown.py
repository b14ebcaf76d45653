import json

from benchmarks.metrics.robustness import group_breakdown


def _row(i, label, score, groups):
    return {"video_id": f"v{i}", "label": str(label), "detector": "d", "level": "none", "status": "ok",
            "score": str(score), "groups": json.dumps(groups)}


def test_fake_only_values_are_scored_against_all_reals_and_real_only_values_left_out():
    rows = [_row(0, 0, 0.1, {"strength": "none", "source": "a"}), _row(1, 0, 0.6, {"strength": "none", "source": "b"}),
            _row(2, 1, 0.9, {"strength": "strong", "source": "a"}), _row(3, 1, 0.3, {"strength": "subtle", "source": "b"})]
    out = {(e["column"], e["value"]): e for e in group_breakdown(rows, "d", "none")}
    assert ("strength", "none") not in out
    strong, subtle = out[("strength", "strong")], out[("strength", "subtle")]
    assert (strong["n_real"], strong["n_fake"], strong["auc"]) == (2, 1, 1.0)
    assert (subtle["n_real"], subtle["n_fake"], subtle["auc"]) == (2, 1, 0.5)  # 0.3 beats 0.1, loses to 0.6
    assert out[("source", "a")]["reals"] == "group's own" and out[("source", "a")]["n_real"] == 1
