"""The app settings file and the decoding presets."""
