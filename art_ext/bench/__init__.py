"""The benchmark harness behind ``art-ext bench``."""
