"""The normaliser on crafted samples of every artifact the corpus and users' files have."""

from __future__ import annotations

import json

from engine.training.corpus import iter_documents
from engine.training.normalize import basic_cleanup, is_hard_wrapped, normalize_text, reflow_paragraphs

WRAPPED = """\ufeffCHAPTER I.

It was a dark and stormy night; the rain fell in torrents, except at
occasional intervals, when it was checked by a violent gust of wind which
swept up the streets.

"Who goes there?" cried the watchman, lifting his lantern high above his
head and peering into the gloom.
"""


def test_byte_order_mark_crlf_and_non_breaking_spaces_are_cleaned():
    raw = "\ufeffMr.\u00a0Smith\u202fsaid\u200b so.\r\nNext line.\rLast\u00adly."
    assert basic_cleanup(raw) == "Mr. Smith said so.\nNext line.\nLastly."
    assert normalize_text("\ufeffA\u00a0b\r\n\r\nC d\r\n") == "A b\n\nC d"


def test_hard_wrapped_paragraphs_are_reflowed_into_one_line_each():
    assert normalize_text(WRAPPED) == (
        "CHAPTER I.\n\n"
        "It was a dark and stormy night; the rain fell in torrents, except at occasional intervals, when it was "
        "checked by a violent gust of wind which swept up the streets.\n\n"
        '"Who goes there?" cried the watchman, lifting his lantern high above his head and peering into the gloom.'
    )


def test_one_paragraph_per_line_files_keep_their_lines_even_short_dialogue():
    long_a = "She walked along the river for a long while, thinking of everything that had been said that day. " * 2
    long_b = "The evening came slowly over the hills, and the lamps were lit one by one in the village below. " * 2
    text = f"{long_a.strip()}\n\u201cYes.\u201d\n\u201cNo, never.\u201d\n{long_b.strip()}\n"
    assert not is_hard_wrapped(text)
    assert normalize_text(text).split("\n\n") == [long_a.strip(), "\u201cYes.\u201d", "\u201cNo, never.\u201d",
                                                   long_b.strip()]


def test_markdown_lists_and_headings_keep_their_own_lines_in_wrapped_text():
    text = "# Notes\nSome text that is wrapped\nat a short width.\n- first item\n- second item\n"
    assert reflow_paragraphs(basic_cleanup(text)) == [
        "# Notes", "Some text that is wrapped at a short width.", "- first item", "- second item"]


def test_italic_underscores_are_removed_but_identifiers_are_kept():
    assert normalize_text("I _never_ said _in medias res_ to snake_case_name.") == (
        "I never said in medias res to snake_case_name.")


def test_illustration_footnote_and_brace_placeholders_are_removed():
    text = ("[Illustration]\n\nHe came in [Illustration: A man at the door]. He sat {GREEK} down{Endnote 2}.\n\n"
            "[Footnote 3: See the appendix.]\n\nThe end [Greek text] came.")
    assert normalize_text(text) == "He came in. He sat down.\n\nThe end came."


def test_wikipedia_doc_files_are_cleaned(tmp_path):
    body = (
        "Anarchism\n\n"
        "Anarchism is a political philosophy that advocates stateless societies ( ) often defined as "
        "self-governed voluntary institutions.<br> Anarchism holds the state to be undesirable.\n"
        "History.\n"
        "He died in 1990.\n"
        "The term appeared in chapter . Several authors used it.</ref>\n"
        "The equation formula_1 gives the result.\n"
    )
    stub = "Stub\n\nToo short.\n"
    (tmp_path / "wiki_00").write_text(
        f'<doc id="12" url="http://x" title="Anarchism">\n{body}</doc>\n'
        f'<doc id="13" url="http://y" title="Stub">\n{stub}</doc>\n', encoding="utf-8")
    docs = list(iter_documents([tmp_path]))
    assert [d.id for d in docs] == ["wikipedia:12"]
    assert docs[0].source == "wikipedia"
    assert docs[0].text == (
        "Anarchism is a political philosophy that advocates stateless societies often defined as self-governed "
        "voluntary institutions. Anarchism holds the state to be undesirable.\n\n"
        "He died in 1990.\n\n"
        "The term appeared in chapter. Several authors used it."
    )


def test_wikinews_json_lines_are_cleaned(tmp_path):
    text = (" Police said on Monday that the bridge &amp; the road would reopen next week, after repairs that "
            "took most of the summer.&lt;br&gt;\nOfficials expect traffic to return to normal soon after the "
            "opening ceremony, which the mayor will attend.\n \nSources.\n")
    records = [{"id": "743", "url": "https://x", "title": "Bridge to reopen", "text": text},
               {"id": "744", "url": "https://y", "title": "Tiny", "text": "Too short."}]
    (tmp_path / "wiki_01").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    docs = list(iter_documents([tmp_path]))
    assert [d.id for d in docs] == ["wikinews:743"]
    assert docs[0].text == (
        "Police said on Monday that the bridge & the road would reopen next week, after repairs that took most "
        "of the summer.\n\n"
        "Officials expect traffic to return to normal soon after the opening ceremony, which the mayor will attend."
    )


def test_a_text_file_starting_with_a_brace_is_prose_not_json(tmp_path):
    (tmp_path / "notes.md").write_text("{draft} The chapter opens in the rain.\n", encoding="utf-8")
    docs = list(iter_documents([tmp_path]))
    assert [d.text for d in docs] == ["The chapter opens in the rain."]
