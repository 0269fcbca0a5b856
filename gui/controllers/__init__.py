"""The controllers between the engine bridge and the widgets: documents, models and their dialogs, memory, quality,
suggestions and their re-rolls, branches and the notes on where suggested text came from. Each is a QObject that
owns one concern and reports by signals."""
