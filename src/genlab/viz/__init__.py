"""Pictures: image grids and strips (PIL), training curves and 2-D samples (matplotlib Agg); written atomically."""
from genlab.viz.grid import class_columns, path_positions, readable_scale, save_grid, save_side_by_side, save_strip
from genlab.viz.plots import plot_curves, plot_points, smooth

__all__ = ["class_columns", "path_positions", "plot_curves", "plot_points", "readable_scale", "save_grid",
           "save_side_by_side", "save_strip", "smooth"]
