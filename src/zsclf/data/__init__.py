"""What the user gives: label files (and the committed ImageNet/WordNet sets), labelled photo sets
for eval/training/examples, and image files to classify (folder walks, stdin lists).
Imports only `zsclf.core`."""
