"""Level specs, levels files, stages, provenance, geometric and temporal steps."""
import numpy as np
import pytest

import perturbations


def video(n=8, size=64, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 220, (size, size, 3), dtype=np.uint8)
    return np.stack([np.roll(base, i, axis=1) for i in range(n)])


def test_expand_mixed_specs():
    assert perturbations.expand("heavy,GB:3,df:2") == ["none", "heavy", "GB:3", "CS:2", "CC:2", "BW:2", "GNC:2",
                                                       "GB:2", "PX:2", "VC:2"]
    names = perturbations.expand("df:all")
    assert len(names) == 36 and names[1:3] == ["CS:1", "CS:2"] and names[-1] == "VC:5"
    assert perturbations.expand("jpeg:5+gnc:2, df:mix ,HFLIP") == ["none", "JPEG:5+GNC:2", "df:mix", "HFLIP"]
    assert perturbations.expand("all") == ["none", "flip", "heavy"]  # DF mixtures are not in `all`
    for name in perturbations.expand("heavy,GB:3,df:2,df:mix,JPEG:5+GNC:2,ROT:1@frame"):
        assert perturbations.get(name).name == name


@pytest.mark.parametrize("bad,message", [
    ("BLUR:3", "unknown perturbation level 'BLUR:3': unknown step type 'BLUR'"),
    ("GB:9", "GB: severity must be an integer 1-5, got 9"),
    ("GB:x", "severity must be an integer 1-5"),
    ("GB", "GB needs a severity"),
    ("HFLIP:2", "HFLIP takes no severity"),
    ("df:6", "DeeperForensics severities are 1-5"),
    ("GB:3@disk", "unknown stage 'disk'"),
    ("JPEG:2@video", "JPEG cannot run at stage 'video'"),
])
def test_inline_spec_errors(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        perturbations.expand(f"heavy,{bad}")


def test_get_refuses_groups():
    with pytest.raises(ValueError, match="group of levels"):
        perturbations.get("df:3")


def test_levels_file(tmp_path, restore_levels):
    path = tmp_path / "mine.toml"
    path.write_text('[levels.blurry]\ndescription = "blur then jpeg"\n'
                    'steps = [{ type = "GB", severity = 2 }, { type = "JPEG", quality = 42 }]\n'
                    '[levels.rotated]\nsteps = [{ type = "ROT", degrees = 7.5, border = "constant" }, { level = "blurry" }]\n')
    assert perturbations.load_levels_file(path) == ["blurry", "rotated"]
    assert "blurry" in perturbations.available() and perturbations.describe("blurry") == "blur then jpeg"
    assert perturbations.expand("all")[-2:] == ["blurry", "rotated"]
    level = perturbations.get("rotated")
    assert [op.label() for op in level.ops] == ["ROT(degrees=7.5,border=constant)", "GB:2", "JPEG(quality=42)"]
    out = perturbations.get("blurry+VFLIP").apply(video(2), 0)
    assert out.shape == (2, 64, 64, 3)
    # loaded again (the CLI, then benchmarks.run, then each worker): the same levels, no duplicate error
    assert perturbations.load_levels_file(str(path)) == ["blurry", "rotated"]
    assert perturbations.get("rotated").ops == level.ops
    path.write_text(path.read_text().replace("quality = 42", "quality = 43"))
    with pytest.raises(ValueError, match="levels.blurry: changed since this file was loaded"):
        perturbations.load_levels_file(path)


@pytest.mark.parametrize("body,message", [
    ('[levels.x]\nsteps = [{ type = "BLUR" }]', "levels.x.steps[0]: unknown step type 'BLUR'"),
    ('[levels.x]\nsteps = [{ type = "GB", severity = 7 }]', "levels.x.steps[0]: GB: severity must be an integer 1-5"),
    ('[levels.x]\nsteps = [{ type = "GB", kernel = 4 }]', "levels.x.steps[0]: GB: parameter 'kernel' must be odd >= 1"),
    ('[levels.x]\nsteps = [{ type = "GB", size = 4 }]', "levels.x.steps[0]: GB: unknown parameter 'size'"),
    ('[levels.x]\nsteps = [{ type = "JPEG", quality = "high" }]', "parameter 'quality' must be int"),
    ('[levels.heavy]\nsteps = []', "levels.heavy: duplicate level name"),
    ('[levels.x]\nsteps = []\n[levels.x]\nsteps = []', "invalid TOML"),
    ('[levels.x]\nsteps = []\ncolour = 1', "levels.x: unknown key 'colour'"),
    ('[levels.GB]\nsteps = []', "levels.GB: bad level name"),
    ('[levels.x]\nsteps = [{ type = "VC", severity = 1, stage = "disk" }]', "stage must be one of"),
])
def test_levels_file_errors(tmp_path, restore_levels, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ValueError) as info:
        perturbations.load_levels_file(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    assert "x" not in perturbations.available()


def test_levels_file_is_all_or_nothing(tmp_path, restore_levels):
    path = tmp_path / "half.toml"
    path.write_text('[levels.ok]\nsteps = []\n[levels.bad]\nsteps = [{ type = "NOPE" }]\n')
    with pytest.raises(ValueError):
        perturbations.load_levels_file(path)
    assert "ok" not in perturbations.available()


def test_register_a_named_level_then_get_it():
    perturbations.register("blur-jpeg-test", "GB:2+JPEG:5", "blur, then JPEG", in_all=False)
    try:
        assert "blur-jpeg-test" in perturbations.available()
        assert perturbations.describe("blur-jpeg-test") == "blur, then JPEG"
        assert "blur-jpeg-test" not in perturbations.expand("all")  # in_all=False
        frames = video()
        assert np.array_equal(perturbations.get("blur-jpeg-test").apply(frames, 3),
                              perturbations.get("GB:2+JPEG:5").apply(frames, 3))
        with pytest.raises(ValueError, match="already defined"):
            perturbations.register("blur-jpeg-test", "GB:1")
        perturbations.register("blur-jpeg-test", [perturbations.make_step("GB", 1)], replace=True)
        assert perturbations.get("blur-jpeg-test").steps[0].startswith("GB:1")
        with pytest.raises(ValueError, match="not 'all'"):
            perturbations.register("GB", "JPEG:1")
    finally:
        perturbations.unregister("blur-jpeg-test")
    assert "blur-jpeg-test" not in perturbations.available()


def test_df_mix_is_deterministic_per_seed_and_records_the_draw():
    frames = video(4)
    level = perturbations.get("df:mix")
    draws = []
    for seed in range(8):
        a, pa = level.apply(frames, seed, return_params=True)
        b, pb = level.apply(frames, seed, return_params=True)
        assert np.array_equal(a, b) and pa == pb
        step = pa["steps"][0]
        assert 2 <= len(step["types"]) <= 4 and len(step["severities"]) == len(step["types"])
        assert all(1 <= s <= 5 for s in step["severities"])
        assert [m["step"] for m in step["mixed"]] == [f"{t}:{s}" for t, s in zip(step["types"], step["severities"])]
        draws.append((tuple(step["types"]), tuple(step["severities"])))
    assert len(set(draws)) > 4
    assert perturbations.get("df-mix").apply(frames, 5).shape == frames.shape


def test_return_params_default_is_plain_array():
    out = perturbations.get("ROT:3").apply(video(2), 1)
    assert isinstance(out, np.ndarray)
    out, params = perturbations.get("ROT:3+SCALE:2").apply(video(2), 1, return_params=True)
    assert params["level"] == "ROT:3+SCALE:2" and abs(params["steps"][0]["angle"]) == 15.0
    assert params["steps"][1]["scale"] in (pytest.approx(1.1), pytest.approx(1 / 1.1))


def test_stages_and_split():
    assert perturbations.get("GB:3").stage == "face" and perturbations.get("VC:3@video").stage == "video"
    assert perturbations.get("GB:3").allowed_stages() == ("frame", "face")
    level = perturbations.get("VC:3+GB:3")
    assert level.stages("face") == ("face", "face") and level.stages("frame") == ("video", "frame")
    assert perturbations.get("GB:3+VC:3").stages("frame") == ("frame", "frame")
    parts = level.split_by_stage("frame")
    assert [op.label() for op in parts["video"].ops] == ["VC:3"] and [op.label() for op in parts["frame"].ops] == ["GB:3"]
    assert parts["face"].is_identity
    with pytest.raises(ValueError, match="cannot follow a face-stage step"):
        perturbations.get("GB:3+VC:2@video").stages("face")
    assert perturbations.get("heavy").split_by_stage()["face"].name == "heavy"


def test_split_parts_draw_the_same_parameters_as_the_whole():
    frames = video(3)
    level = perturbations.get("ROT:2+SCALE:3+ASPECT:1")
    whole, params = level.apply(frames, 11, return_params=True)
    parts = perturbations.get("ROT:2@frame+SCALE:3+ASPECT:1").split_by_stage("face")
    mid, p1 = parts["frame"].apply(frames, 11, return_params=True)
    out, p2 = parts["face"].apply(mid, 11, return_params=True)
    strip = [{k: v for k, v in s.items() if k != "step"} for s in params["steps"]]
    assert strip == [{k: v for k, v in s.items() if k != "step"} for s in p1["steps"] + p2["steps"]]
    assert np.array_equal(out, whole)


def test_geometric_steps():
    frames = video(3)
    assert np.array_equal(perturbations.get("HFLIP").apply(frames, 0), frames[:, :, ::-1])
    assert np.array_equal(perturbations.get("VFLIP").apply(frames, 0), frames[:, ::-1])
    for spec in ("ROT:5", "SCALE:5", "ASPECT:5"):
        out = perturbations.get(spec).apply(frames, 2)
        assert out.shape == frames.shape and not np.array_equal(out, frames)
        # the same transform for every frame: frames are rolled copies, so compare against the same warp
        same = perturbations.get(spec).apply(np.stack([frames[0]] * 3), 2)
        assert np.array_equal(same[0], same[2])
    angles = {perturbations.get("ROT:4").apply(frames, s, return_params=True)[1]["steps"][0]["angle"] for s in range(10)}
    assert angles == {20.0, -20.0}


@pytest.mark.parametrize("spec,count", [("DROP:1", 18), ("DROP:5", 10), ("DUP:2", 24), ("DUP:5", 30),
                                        ("FPS:3", 10), ("FPS:5", 5), ("SHUFFLE:4", 20)])
def test_temporal_frame_counts(spec, count):
    frames = np.arange(20, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    out, params = perturbations.get(spec).apply(frames, 0, return_params=True)
    assert len(out) == count == params["steps"][0]["n_out"]
    order = out[:, 0, 0, 0].tolist()
    if spec.startswith("SHUFFLE"):
        assert sorted(order) == list(range(20)) and order != list(range(20))
        assert all(sorted(order[i:i + 6]) == list(range(i, min(i + 6, 20))) for i in range(0, 20, 6))
    else:
        assert order == sorted(order)


def test_temporal_keeps_at_least_one_frame():
    assert len(perturbations.get("DROP:5").apply(video(1), 0)) == 1
