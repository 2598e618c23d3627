"""texgan: the command-line front end tying gan_core, export and the add-on's inference core together."""
from gan_core import __version__

__all__ = ["__version__"]
