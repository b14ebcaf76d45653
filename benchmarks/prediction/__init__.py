"""`predict`: one video (or a few), no dataset: P(fake), the verdict at a threshold, and the video's robustness
profile under perturbation levels, through the same pipeline, defaults and caches as `run`.

`benchmarks.predict` (the package face) is `api.predict`; rows are `rows.Prediction`.
"""
