import numpy as np
import pytest

import perturbations
from perturbations.gallery import LABEL_HEIGHT, TITLE_HEIGHT


def test_make_gallery_grid_shape_and_clean_tile():
    crop = np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)
    grid = perturbations.make_gallery(crop, "GB:3,JPEG:5+GNC:2", seed=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * (60 + LABEL_HEIGHT), 2 * 60, 3)  # nothing drawn: 1 line
    assert np.array_equal(grid[:60, :60], crop)  # `none` first, unchanged
    inner = perturbations.make_gallery(crop, ["heavy"], inner=1.5, columns=2)
    assert inner.shape[1] == 80 and (inner.shape[0] - 40) % LABEL_HEIGHT == 0
    assert inner.shape[0] >= 40 + 4 * LABEL_HEIGHT  # the name, then heavy's eight drawn values wrapped


def test_gallery_command_writes_png(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from benchmarks.cli import main
    from datasets.demo import generate_demo

    root = generate_demo(tmp_path / "demo", seed=0, n_train=2, n_test=2, frames=8)
    out = tmp_path / "g.png"
    code = main(["gallery", "--level", "heavy", "--level", "df:3", "--dataset", "folder", "--data-root", str(root),
                 "--cache-dir", str(tmp_path / "cache"), "--video", "1", "--out", str(out)])
    assert code == 0
    image = cv2.imread(str(out))
    tile = round(384 / 1.5)
    assert image.shape[1] == 3 * tile  # none, heavy + 7 DF types: 3 x 3, titled
    assert (image.shape[0] - TITLE_HEIGHT) % 3 == 0 and ((image.shape[0] - TITLE_HEIGHT) // 3 - tile) % LABEL_HEIGHT == 0
    assert main(["gallery", "--level", "BLUR:2", "--dataset", "folder", "--data-root", str(root),
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)]) == 2
