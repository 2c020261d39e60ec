"""The bundled task suite: one task file per task (YAML), loaded with ``tasks.load_suite(SUITE_DIR)``."""

from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent
