"""The Decoding Settings dialog: every ``DecodingSettings`` field, each range enforced by its widget."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.decoding.settings import (
    DEFAULT_MIN_WORD_PROBABILITY,
    MAX_BEAMS,
    MAX_FINISHED_WORD_ODDS,
    MAX_NEW_TOKENS_LIMIT,
    DecodingSettings,
)
from gui.settings.presets import PRESETS, apply_preset, matching_preset
from gui.settings.settings_store import APP_DEFAULT_DECODING, AppSettings

STRATEGY_LABELS = {"greedy": "Greedy (most likely token)", "sample": "Sampling", "beam": "Beam search"}
LENGTH_LABELS = {"word": "One word", "sentence": "To the end of the sentence", "line": "To the end of the line",
                 None: "A fixed number of tokens"}
MAX_SEED = 2**31 - 1
MAX_DEBOUNCE_MS = 2000


def _spin(minimum: int, maximum: int, tooltip: str, special: str | None = None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setToolTip(tooltip)
    if special:
        box.setSpecialValueText(special)  # shown at the minimum, e.g. "off"
    return box


def _double(minimum: float, maximum: float, step: float, decimals: int, tooltip: str,
            special: str | None = None) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setToolTip(tooltip)
    if special:
        box.setSpecialValueText(special)
    return box


def model_bar_label(bar: float) -> str:
    """The check box that leaves the doubt cut's bar to the model, with the model's bar: "the model's (10%)"."""
    return f"the model's ({bar:.0%})"


class DecodingDialog(QDialog):
    def __init__(self, settings: DecodingSettings, debounce_ms: int, parent: QWidget | None = None,
                 model_bar: float = DEFAULT_MIN_WORD_PROBABILITY) -> None:
        """``model_bar``: the loaded model's own doubt-cut bar (``LanguageModel.doubt_cut_default``), what a
        ``min_word_probability`` of None means."""
        super().__init__(parent)
        self.model_bar = model_bar
        self.setWindowTitle("Decoding Settings")
        self.setObjectName("decodingDialog")
        general = self._build_general()
        repetition_group = self._build_repetition()
        self.sampling_group = self._build_sampling()
        self.beam_group = self._build_beam()
        self.buttons = self._build_buttons()
        self._lay_out(general, repetition_group)
        self._updating = False
        self.set_values(settings, debounce_ms)
        self._connect()

    def _build_general(self) -> QFormLayout:
        """The preset, strategy, length and the choices that hold for every strategy."""
        self.preset = QComboBox()
        self.preset.addItem("Custom", None)
        for name in PRESETS:
            self.preset.addItem(name, name)
        self.strategy = QComboBox()
        for key, label in STRATEGY_LABELS.items():
            self.strategy.addItem(label, key)

        self.length = QComboBox()
        for stop, label in LENGTH_LABELS.items():
            self.length.addItem(label, stop)
        self.max_new_tokens = _spin(1, MAX_NEW_TOKENS_LIMIT, "The suggestion never gets longer than this")
        self.min_word_probability = _double(0.0, 0.9, 0.05, 2, "End a suggestion before a word the model gives "
                                            "less than this chance (its first word always stays). Only with the "
                                            "length 'To the end of the sentence' and greedy or beam search: a "
                                            "length you choose is kept whole, and sampling is not cut back to "
                                            "its first word", special="off")
        self.model_word_probability = QCheckBox(model_bar_label(self.model_bar))
        self.model_word_probability.setToolTip("The bar measured for the loaded model, the one that saved the most "
                                               "keystrokes on held-out text (10% for a model not measured); a "
                                               "value you set instead is kept for every model")
        self.debounce = _spin(0, MAX_DEBOUNCE_MS, "How long to wait after the last keystroke before suggesting")
        self.debounce.setSuffix(" ms")
        self.token_healing = QCheckBox("Complete partly typed words (token healing)")
        self.greedy_word_ends = QCheckBox("Greedy: end a word where ending it is likelier in all")
        self.greedy_word_ends.setToolTip("Inside a word, every space and punctuation token together against the "
                                         "likeliest token that lengthens it (\"brown\", not \"brownened\"); "
                                         "off: the likeliest token at every step")
        self.finished_word_odds = _double(1.0, MAX_FINISHED_WORD_ODDS, 0.5, 1, "After a word that could end "
                                          "where the cursor is (\"to\"), a longer word (\"today\") is suggested "
                                          "only when the model finds it this many times likelier than ending the "
                                          "word; 1: the model's own choice", special="off")
        self.memory = QCheckBox("Memory: remember the document and your folders (Model ▸ Memory)")
        self.memory.setToolTip("Off: suggestions come from the model alone")
        self.whole_words = QCheckBox("Never end inside a word at the token limit")
        self.whole_words.setToolTip("A suggestion that reaches the limit inside a word finishes the word (a few "
                                    "tokens more) or ends at its last whole word; off: exactly that many tokens")
        self.special_tokens = QCheckBox("Mark the start of the document for the model (special tokens)")
        self.special_tokens.setToolTip("Its start-of-text token before a document's first words, and the text "
                                       "after the cursor as fill-in-the-middle where the model knows it; off: the "
                                       "model reads only the text, as transformers and llama.cpp do")

        general = QFormLayout()
        general.addRow("Preset", self.preset)
        general.addRow("Strategy", self.strategy)
        general.addRow("Suggestion length", self.length)
        general.addRow("At most", self._with_suffix(self.max_new_tokens, "tokens"))
        general.addRow("End before words below", self._with_suffix(self.min_word_probability, "",
                                                                   self.model_word_probability))
        general.addRow("Suggest after", self.debounce)
        general.addRow("Lengthen a finished word at", self._with_suffix(self.finished_word_odds, "× likelier"))
        general.addRow("", self.token_healing)
        general.addRow("", self.greedy_word_ends)
        general.addRow("", self.memory)
        general.addRow("", self.whole_words)
        general.addRow("", self.special_tokens)
        return general

    def _build_sampling(self) -> QGroupBox:
        """Temperature, the top-k / top-p / min-p cuts and the seed: only sampling reads them."""
        self.temperature = _double(0.0, 5.0, 0.05, 2, "Below 1: safer words; above 1: more surprising ones")
        self.top_k = _spin(0, 1000, "Only the k most likely tokens may be drawn", special="off")
        self.top_p = _double(0.01, 1.0, 0.01, 2, "Only the most likely tokens covering this probability")
        self.min_p = _double(0.0, 0.99, 0.01, 2, "Drop tokens less likely than this fraction of the best one",
                             special="off")
        self.seed_fixed = QCheckBox("Fixed seed")
        self.seed = _spin(0, MAX_SEED, "The same seed and text give the same suggestion")

        group = QGroupBox("Sampling")
        sampling = QFormLayout(group)
        sampling.addRow("Temperature", self.temperature)
        sampling.addRow("Top-k", self.top_k)
        sampling.addRow("Top-p", self.top_p)
        sampling.addRow("Min-p", self.min_p)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_fixed)
        seed_row.addWidget(self.seed, 1)
        sampling.addRow("Seed", seed_row)
        return group

    def _build_beam(self) -> QGroupBox:
        """Beams, alternatives and the length penalty: only beam search reads them."""
        self.num_beams = _spin(1, MAX_BEAMS, "How many hypotheses beam search keeps")
        self.num_alternatives = _spin(1, MAX_BEAMS, "How many alternatives to list (at most the beams)")
        self.length_penalty = _double(-5.0, 5.0, 0.1, 2, "Above 1 favours longer beams, below 1 shorter ones")
        self.branch_first_word = QCheckBox("Alternatives start with different words")
        self.branch_first_word.setToolTip("The likeliest continuation of each of the likeliest first words; off: "
                                          "plain beam search, whose beams often differ only at the end")

        group = QGroupBox("Beam search")
        beam = QFormLayout(group)
        beam.addRow("Beams", self.num_beams)
        beam.addRow("Alternatives", self.num_alternatives)
        beam.addRow("Length penalty", self.length_penalty)
        beam.addRow("", self.branch_first_word)
        return group

    def _build_repetition(self) -> QGroupBox:
        """The penalties on repeating earlier text."""
        self.repetition_penalty = _double(0.1, 5.0, 0.05, 2, "Above 1 discourages repeating tokens")
        self.no_repeat_ngram_size = _spin(0, 20, "Never repeat a phrase of this many tokens", special="off")
        self.dry_multiplier = _double(0.0, 10.0, 0.1, 2, "DRY: penalty on a token that would continue a "
                                      "repeat of earlier text (0.8 is a good start)", special="off")
        self.dry_base = _double(1.0, 4.0, 0.05, 2, "DRY: how fast the penalty grows with the repeat's length")
        self.dry_allowed_length = _spin(1, 20, "DRY: repeats up to this many tokens cost nothing")

        group = QGroupBox("Repetition")
        repetition = QFormLayout(group)
        repetition.addRow("Repetition penalty", self.repetition_penalty)
        repetition.addRow("No-repeat n-gram", self.no_repeat_ngram_size)
        repetition.addRow("DRY penalty", self.dry_multiplier)
        repetition.addRow("DRY growth", self.dry_base)
        repetition.addRow("DRY allowed length", self.dry_allowed_length)
        return group

    def _build_buttons(self) -> QDialogButtonBox:
        """OK, Cancel, and Restore Defaults, which fills in the app's defaults."""
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.set_values(APP_DEFAULT_DECODING, AppSettings().debounce_ms))
        return buttons

    def _lay_out(self, general: QFormLayout, repetition_group: QGroupBox) -> None:
        """Two columns, general settings and repetition on the left, sampling and beam search on the right."""
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addLayout(general)
        left.addWidget(repetition_group)
        left.addStretch(1)
        right = QVBoxLayout()
        right.addWidget(self.sampling_group)
        right.addWidget(self.beam_group)
        right.addStretch(1)
        columns.addLayout(left, 1)
        columns.addSpacing(12)
        columns.addLayout(right, 1)
        root = QVBoxLayout(self)
        root.addLayout(columns)
        root.addWidget(self.buttons)

    def _connect(self) -> None:
        """What follows an edit: the greyed rows, the model's bar, and the preset shown."""
        self.preset.activated.connect(self._preset_chosen)
        self.strategy.currentIndexChanged.connect(self._sync)
        self.length.currentIndexChanged.connect(self._sync)
        self.num_beams.valueChanged.connect(self._sync)
        self.seed_fixed.toggled.connect(self._sync)
        self.dry_multiplier.valueChanged.connect(self._sync)
        self.model_word_probability.toggled.connect(self._model_bar_toggled)
        self.min_word_probability.valueChanged.connect(self._bar_edited)
        for widget in self._value_widgets():
            signal = getattr(widget, "valueChanged", None) or getattr(widget, "currentIndexChanged", None) \
                or widget.toggled
            signal.connect(self._show_matching_preset)

    @staticmethod
    def _with_suffix(widget: QWidget, text: str, *more: QWidget) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(widget)
        if text:
            row.addWidget(QLabel(text))
        for other in more:
            row.addWidget(other)
        row.addStretch(1)
        return box

    def _value_widgets(self):
        return (self.strategy, self.length, self.max_new_tokens, self.min_word_probability,
                self.model_word_probability, self.token_healing,
                self.greedy_word_ends, self.finished_word_odds, self.memory, self.whole_words, self.special_tokens,
                self.temperature,
                self.top_k, self.top_p, self.min_p, self.seed_fixed, self.seed, self.num_beams, self.num_alternatives,
                self.length_penalty, self.branch_first_word, self.repetition_penalty, self.no_repeat_ngram_size,
                self.dry_multiplier,
                self.dry_base, self.dry_allowed_length)

    def set_values(self, settings: DecodingSettings, debounce_ms: int) -> None:
        self._updating = True
        try:
            self.strategy.setCurrentIndex(self.strategy.findData(settings.strategy))
            self.length.setCurrentIndex(self.length.findData(settings.stop))
            self.max_new_tokens.setValue(settings.max_new_tokens)
            bar = settings.min_word_probability
            self.model_word_probability.setChecked(bar is None)
            self.min_word_probability.setValue(self.model_bar if bar is None else bar)
            self.debounce.setValue(debounce_ms)
            self.token_healing.setChecked(settings.token_healing)
            self.greedy_word_ends.setChecked(settings.greedy_word_ends)
            self.finished_word_odds.setValue(settings.finished_word_odds)
            self.memory.setChecked(settings.memory)
            self.special_tokens.setChecked(settings.special_tokens)
            self.whole_words.setChecked(settings.whole_words)
            self.temperature.setValue(settings.temperature)
            self.top_k.setValue(settings.top_k)
            self.top_p.setValue(settings.top_p)
            self.min_p.setValue(settings.min_p)
            self.seed_fixed.setChecked(settings.seed is not None)
            self.seed.setValue(settings.seed or 0)
            self.num_beams.setValue(settings.num_beams)
            self.num_alternatives.setMaximum(settings.num_beams)
            self.num_alternatives.setValue(settings.num_alternatives)
            self.length_penalty.setValue(settings.length_penalty)
            self.branch_first_word.setChecked(settings.branch_first_word)
            self.repetition_penalty.setValue(settings.repetition_penalty)
            self.no_repeat_ngram_size.setValue(settings.no_repeat_ngram_size)
            self.dry_multiplier.setValue(settings.dry_multiplier)
            self.dry_base.setValue(settings.dry_base)
            self.dry_allowed_length.setValue(settings.dry_allowed_length)
        finally:
            self._updating = False
        self._sync()
        self._show_matching_preset()

    def settings(self) -> DecodingSettings:
        return DecodingSettings(
            strategy=self.strategy.currentData(),
            max_new_tokens=self.max_new_tokens.value(),
            num_beams=self.num_beams.value(),
            num_alternatives=min(self.num_alternatives.value(), self.num_beams.value()),
            temperature=round(self.temperature.value(), 4),
            top_k=self.top_k.value(),
            top_p=round(self.top_p.value(), 4),
            min_p=round(self.min_p.value(), 4),
            repetition_penalty=round(self.repetition_penalty.value(), 4),
            no_repeat_ngram_size=self.no_repeat_ngram_size.value(),
            length_penalty=round(self.length_penalty.value(), 4),
            branch_first_word=self.branch_first_word.isChecked(),
            seed=self.seed.value() if self.seed_fixed.isChecked() else None,
            token_healing=self.token_healing.isChecked(),
            greedy_word_ends=self.greedy_word_ends.isChecked(),
            finished_word_odds=round(self.finished_word_odds.value(), 4),
            memory=self.memory.isChecked(),
            special_tokens=self.special_tokens.isChecked(),
            whole_words=self.whole_words.isChecked(),
            stop=self.length.currentData(),
            min_word_probability=None if self.model_word_probability.isChecked()
            else round(self.min_word_probability.value(), 4),
            dry_multiplier=round(self.dry_multiplier.value(), 4),
            dry_base=round(self.dry_base.value(), 4),
            dry_allowed_length=self.dry_allowed_length.value(),
        )

    def debounce_ms(self) -> int:
        return self.debounce.value()

    def _preset_chosen(self, index: int) -> None:
        name = self.preset.itemData(index)
        if name:
            self.set_values(apply_preset(self.settings(), name), self.debounce.value())

    def _sync(self) -> None:
        """Keep dependent widgets consistent: alternatives never exceed beams; unused groups are greyed."""
        self.num_alternatives.setMaximum(self.num_beams.value())
        strategy = self.strategy.currentData()
        self.sampling_group.setEnabled(strategy == "sample")
        self.greedy_word_ends.setEnabled(strategy == "greedy")
        # Greyed where decoding ignores it (DecodingSettings.doubt_cut), so the length shown is the length given.
        cuts = self.length.currentData() == "sentence" and strategy != "sample"
        self.min_word_probability.setEnabled(cuts)
        self.model_word_probability.setEnabled(cuts)
        self.beam_group.setEnabled(strategy == "beam")
        self.seed.setEnabled(self.seed_fixed.isChecked())
        dry = self.dry_multiplier.value() > 0
        self.dry_base.setEnabled(dry)
        self.dry_allowed_length.setEnabled(dry)

    def _model_bar_toggled(self, checked: bool) -> None:
        """Leaving the bar to the model shows the model's bar in the box."""
        if checked and not self._updating:
            self._updating = True
            try:
                self.min_word_probability.setValue(self.model_bar)
            finally:
                self._updating = False
            self._show_matching_preset()

    def _bar_edited(self, value: float) -> None:
        """A bar typed or stepped to is the writer's own, kept whatever the model."""
        if not self._updating and abs(value - self.model_bar) > 1e-9:
            self.model_word_probability.setChecked(False)

    def _show_matching_preset(self, *_args) -> None:
        if self._updating:
            return
        name = matching_preset(self.settings())
        self.preset.setCurrentIndex(self.preset.findData(name) if name else 0)


def edit_decoding(parent: QWidget | None, settings: DecodingSettings, debounce_ms: int,
                  model_bar: float = DEFAULT_MIN_WORD_PROBABILITY) -> tuple[DecodingSettings, int] | None:
    dialog = DecodingDialog(settings, debounce_ms, parent, model_bar)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.settings(), dialog.debounce_ms()
