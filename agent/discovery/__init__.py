"""Discovery sweeps: sample every system, run the detectors, keep a data map."""
