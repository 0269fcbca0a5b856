"""Memory: next-token statistics of the open document and of the user's folders, mixed into every prediction.

No Qt here. ``Memory`` (what ``LanguageModel.memory`` holds) combines a ``DocumentMemory`` (incremental n-gram
counts) and ``FolderMemory`` indexes (suffix arrays, persisted by ``MemoryLibrary``); ``mix_logprobs`` is the one
mixing rule, with weights from ``MixtureWeights``.
"""

from engine.memory.document import DocumentMemory
from engine.memory.folders import FolderInfo, FolderMemory, IndexingCancelled, MemoryLibrary, OpenedFolder
from engine.memory.index_file import IndexFileError
from engine.memory.match import Match
from engine.memory.memory import Memory, settled_text
from engine.memory.mixture import mix_logprobs
from engine.memory.ngram import NgramCounts
from engine.memory.weights import MixtureWeights

__all__ = [
    "DocumentMemory",
    "FolderInfo",
    "FolderMemory",
    "IndexFileError",
    "IndexingCancelled",
    "Match",
    "Memory",
    "MemoryLibrary",
    "MixtureWeights",
    "NgramCounts",
    "OpenedFolder",
    "mix_logprobs",
    "settled_text",
]
