"""The test suite: one package (tests.<area>.<module>); shared helpers live in each area's support module."""
