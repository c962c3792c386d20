# HERO library on GPU: CUDA + cuDNN runtime, the CUDA build of the same torch version CI tests on CPU.
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 python3-pip python3-venv python3-dev build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /workspace/hero
COPY requirements.txt .
# torch first and pinned (its CUDA wheel), then the rest; requirements never upgrade it.
RUN pip install torch==2.13.0 && pip install -r requirements.txt
COPY . .
# Optional second distributed backend (builds in a few minutes):
#   RUN bash scripts/install_horovod.sh
CMD ["python", "pretrain.py", "--help"]
