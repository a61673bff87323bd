"""Attack surface: what the device exposes against what the manufacturer declared."""
