"""tapwatch: watches a fleet of government work apps for empty shells and forced usage."""

__version__ = "0.1.0"
