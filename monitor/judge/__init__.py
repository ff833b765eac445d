"""The judge station: pure detectors over the store's evidence, and the findings they make."""
