"""The ModelRed hook and its transports."""
