"""Export zsclf's ONNX models from the PyPI weight packages (needs the `export` extra).

    python tools/export_models.py [--models-dir models] [--image efficientnet-lite0 ...]
    python tools/export_models.py --timm NAME[:TAG] | --openclip ARCH[:PRETRAINED] [--random] --out DIR [--name NAME]

The second form (bring your own model, `zsclf.install.foreign`) exports a timm classifier or an OpenCLIP pair
into DIR with its card DIR/zsclf-model.json; pretrained weights come from the local timm / open_clip caches
(HF_HUB_OFFLINE=1 unless set), never from the network.

A thin wrapper: the code is `zsclf.install.export`, which `zsclf setup` also runs on machines without
a checkout. Its public names are re-exported here for the parity tests and the PyTorch baseline.
"""

from __future__ import annotations

import sys

from zsclf.install.export import *  # noqa: F403
from zsclf.install.export import main

if __name__ == "__main__":
    sys.exit(main())
