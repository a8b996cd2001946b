"""Package data: calibration travel inside the wheel as realtime.calibration."""
