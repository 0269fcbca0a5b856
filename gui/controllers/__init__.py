"""The controllers between the engine bridge and the widgets: documents, models, memory, quality, suggestions
and their re-rolls and sidecar files. Each is a QObject that owns one concern and reports by signals."""
