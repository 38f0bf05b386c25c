"""Label indexes: typed metadata (`meta`), FAISS search (`label_index`) and the folder format on
disk (`store`). Imports only `zsclf.core`."""
