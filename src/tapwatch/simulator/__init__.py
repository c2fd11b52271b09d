"""Simulated government work apps: the usage API v1 served for a fleet with planted
forced-usage patterns, fault modes and ground truth (`tapwatch simulate`)."""

from tapwatch.simulator.cli import main
from tapwatch.simulator.faults import FaultMode
from tapwatch.simulator.fleet import SimulatorOptions
from tapwatch.simulator.server import Simulator

__all__ = ["FaultMode", "Simulator", "SimulatorOptions", "main"]
