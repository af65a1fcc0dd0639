"""Cross-package tests: real installs of real packages in fresh venvs."""
