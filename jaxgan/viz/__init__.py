"""Visualisation helpers: uint8 conversion, PNG writing and image grids."""
from jaxgan.viz.grid import make_grid, save_image, save_image_grid, to_uint8

__all__ = ["make_grid", "save_image", "save_image_grid", "to_uint8"]
