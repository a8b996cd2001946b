"""Package data: the ONNX models and their manifest travel inside the wheel as realtime.models."""
