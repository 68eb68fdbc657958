"""MTI-Net (Vandenhende, Georgoulis, Van Gool, ECCV 2020). Importing this package registers the model."""

from mtinet import model  # noqa: F401  (registration side effect)
from mtinet.model import MTINet

__all__ = ["MTINet"]
