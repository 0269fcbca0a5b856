"""The controllers between the engine bridge and the widgets: documents, models and their dialogs, memory, quality,
suggestions and their re-rolls, branches and sidecar files. Each is a QObject that owns one concern and reports by
signals."""
