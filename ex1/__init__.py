"""ex1: data, model zoo, training engine, results store and theory checks for the CNN assignment."""

__version__ = "0.1.0"
