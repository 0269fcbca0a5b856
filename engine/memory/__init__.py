"""Memory: next-token statistics of the open document and of the user's folders, mixed into every prediction.

No Qt here. ``Memory`` (what ``LanguageModel.memory`` holds) combines a ``DocumentMemory`` (incremental n-gram
counts) and ``FolderMemory`` indexes (suffix arrays, persisted by ``MemoryLibrary``); ``mix_logprobs`` is the one
mixing rule, with weights from ``MixtureWeights``; ``HiddenStateCache`` (the continuous cache over the model's own
hidden states) is mixed in after it where the weights have a table for it.
"""

from engine.memory.document import DocumentMemory
from engine.memory.folders import FolderInfo, FolderMemory, IndexingCancelled, MemoryLibrary, OpenedFolder
from engine.memory.hidden_cache import CacheWeights, HiddenStateCache
from engine.memory.index_file import IndexFileError
from engine.memory.match import Match
from engine.memory.memory import Memory, settled_text
from engine.memory.mixture import mix_logprobs
from engine.memory.ngram import NgramCounts
from engine.memory.weights import MixtureWeights

__all__ = [
    "CacheWeights",
    "DocumentMemory",
    "FolderInfo",
    "FolderMemory",
    "HiddenStateCache",
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
