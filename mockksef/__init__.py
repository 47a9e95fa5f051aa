"""mockksef: an offline, faithful stand-in for the KSeF 2.0 API."""

from mockksef.app import create_app
from mockksef.clock import Clock
from mockksef.config import MockConfig
from mockksef.environments import Env
from mockksef.errors import (
    Forbidden,
    Gone,
    InvalidInputData,
    KsefError,
    TooManyRequests,
    Unauthorized,
)
from mockksef.state import EnvironmentState, MockState

__all__ = [
    "Clock",
    "Env",
    "EnvironmentState",
    "Forbidden",
    "Gone",
    "InvalidInputData",
    "KsefError",
    "MockConfig",
    "MockState",
    "TooManyRequests",
    "Unauthorized",
    "create_app",
]

__version__ = "0.1.0"
