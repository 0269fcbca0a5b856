"""The app settings file, the decoding presets, and the last folder used."""
