"""`python -m zsclf.cli`."""

from .app import main

main()
