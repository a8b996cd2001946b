"""Package data: shaders travel inside the wheel as realtime.shaders."""
