"""The prediction pipeline, stage by stage: decode (`images`) -> encode in batches (`encoding`) ->
project into the index's space (`projection`, `projection_file`, `seen`) -> search -> rank
(`classifier`), with `compat` checking that an index, a projection and the encoders fit together.
Imports `core`, `models`, `data` and `index`; never `learn`, `measure` or `cli`."""
