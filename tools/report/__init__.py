"""The report generator behind `tools/make_report.py`: plan (experiments as data), runner, sections, charts."""
