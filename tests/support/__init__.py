"""Helpers the tests import (no tests here: these modules are not named test_*; fixtures live in conftest.py files)."""
