"""The optimised scoring path: ONNX export with exact LightGBM routing, engines, fast vectoriser, parity."""
