"""Import torchvision where its compiled operators cannot load (export only; prediction never imports torch).

PyPI's torchvision wheels for Linux are CUDA builds: next to the CPU torch that the `export` extra pins, their
C extension fails to load (libc10_cuda.so is missing), and `import torchvision` then stops at registering fake
kernels for its operators ("operator torchvision::nms does not exist"). timm and open_clip import torchvision,
and once it is installed transformers does too, so the MiniLM export would fail as well. The exports use none
of torchvision's compiled operators (nms, roi_align, ...): registrations that fail for want of them are
skipped, everything else is left as torchvision does it.
"""

from __future__ import annotations

import importlib.util


def import_torchvision() -> None:
    """Import torchvision (if installed), skipping the fake-kernel registrations of operators its broken C
    extension did not define. A no-op where torchvision imports by itself or is absent."""
    if importlib.util.find_spec("torchvision") is None:
        return
    import torch.library as library

    original = library.register_fake

    def register_fake(op, *args, **kwargs):
        if not (isinstance(op, str) and op.startswith("torchvision::") and not args):
            return original(op, *args, **kwargs)

        def decorate(fn):
            try:
                return original(op, **kwargs)(fn)
            except RuntimeError:  # the operator does not exist: its C extension did not load
                return fn
        return decorate

    library.register_fake = register_fake
    try:
        import torchvision  # noqa: F401
    finally:
        library.register_fake = original
