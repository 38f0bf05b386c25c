"""Foundation shared by every layer: errors live in `zsclf.errors`; here are locations (`paths`),
atomic file writing (`fsio`), vector helpers (`vectors`), typed JSON metadata (`typed_json`),
progress callbacks (`progress`) and device/thread selection (`device`). Imports nothing else of zsclf."""
