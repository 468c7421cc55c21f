"""Settings for every test suite."""

from hypothesis import settings

# Hypothesis's per-example deadline is a timed assertion: on a loaded 2-core machine an example
# that normally takes 1 ms can take 300 ms. Speed is measured by `make bench`, never by tests.
settings.register_profile("oms", deadline=None)
settings.load_profile("oms")
