"""Measuring: accuracy on labelled photos (`evaluate`), speed (`bench`) and what is installed and in use
(`sysinfo`). Results are plain dicts; rendering them is the CLI's job (`cli.reports`)."""
