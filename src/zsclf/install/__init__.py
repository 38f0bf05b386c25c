"""Making a machine ready to classify: `zsclf setup` (models and default index into ZSCLF_HOME) and the
model export behind it. Above `learn` (it builds the default index); nothing below imports it."""
