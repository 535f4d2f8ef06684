"""Moved to :mod:`jaxgan.sharding` (one sharding module); this name is kept so that code
written against it keeps working. Import from :mod:`jaxgan.sharding`."""
from jaxgan.sharding import *  # noqa: F401,F403 - the same names
