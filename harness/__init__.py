"""IoT label harness: checks consumer IoT devices against labelling schemes and signs the evidence."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("iot-label-harness")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
