"""RT Structure Sets: reading, polygon filling, rasterisation onto the reference grid, and the conversion to label volumes."""
