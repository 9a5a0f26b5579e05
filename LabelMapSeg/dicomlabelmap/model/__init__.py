"""Model of the data, numpy only (no pydicom): image geometry, label volumes and masks, segments and their codes, label schemes."""
