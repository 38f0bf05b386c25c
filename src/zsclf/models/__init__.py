"""The models: the registry (`models/manifest.json`, typed), the image encoder (EfficientNet-Lite in
ONNX Runtime, with its classifier statistics) and the text encoder (all-MiniLM-L6-v2).
Imports only `zsclf.core`."""
