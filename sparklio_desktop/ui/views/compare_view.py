"""The compare panel: pick 2–4 models, stream their answers side by side, vote.

Each column renders through :class:`StreamingMarkdownView`, which appends chunks in
O(1) and re-renders at most every 100 ms, so four columns at 200 tokens/s each keep
the window responsive. Column headers show exactly what the view-model emits: "A",
"B" while the comparison is blind, the model's name once the vote revealed it. Models and
tasks read by name everywhere ("Claude 3.5 Sonnet", "Copywriting"); an id is only a
tooltip or item data, and a blind column has no tooltip until the vote.

A blind comparison hides everything that identifies a model until the vote: names, cost,
tokens per second, token counts (each column's figures wait in ``_results``) and the
ticked model list (replaced by a line with a "Show names" escape that gives up the blind
vote). They appear with the result. Stars are a clickable :class:`StarRating`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.compare import MAX_COLUMNS, MIN_COLUMNS, CompareViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import ColumnResult, Vote
from sparklio_desktop.ui.viewmodels.seams import PanelServices
from sparklio_desktop.ui.widgets.format import seconds_text, usd_text
from sparklio_desktop.ui.widgets.markdown_stream import StreamingMarkdownView
from sparklio_desktop.ui.widgets.stars import StarRating

ORDINALS = ("1st", "2nd", "3rd", "4th")


class AnswerColumn(QFrame):
    """One answer: its label, the stream, its figures, stars, rank and continue buttons."""

    def __init__(self, index: int, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.label = label
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(f"<b>{label}</b>")
        self.title.setAccessibleName(f"Column {index + 1} model")
        self.answer = StreamingMarkdownView()
        self.answer.setAccessibleName(f"Column {index + 1} answer")
        self.figures = QLabel("waiting…")
        self.figures.setAccessibleName(f"Column {index + 1} figures")
        self.figures.setWordWrap(True)
        self.stars = StarRating(name=f"Column {index + 1} stars (1-5)")
        self.rank_button = QPushButton(f"Rank {label}")
        self.rank_button.setAccessibleName(f"Rank column {index + 1} next")
        self.continue_button = QPushButton("Continue with this one")
        self.continue_button.setAccessibleName(f"Continue with column {index + 1} in the composer")
        self.continue_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.stars)
        row.addWidget(self.rank_button)
        row.addStretch(1)
        row.addWidget(self.continue_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.answer, 1)
        layout.addWidget(self.figures)
        layout.addLayout(row)


class CompareView(QWidget):
    """Side-by-side answers and the vote."""

    continueWith = Signal(str, str, str)  # model id, prompt, answer (forwarded from the view-model)

    def __init__(self, vm: CompareViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.columns: list[AnswerColumn] = []
        self._ranking: list[int] = []
        self._results: dict[int, ColumnResult] = {}  # finished columns, figures held back while blind
        self._build()
        vm.candidatesReady.connect(self._on_candidates)
        vm.started.connect(self._on_started)
        vm.chunk.connect(self._on_chunk)
        vm.columnReset.connect(lambda c: self.columns[c].answer.clear_text())
        vm.columnFinished.connect(self._on_column_finished)
        vm.finished.connect(self._on_finished)
        vm.busyChanged.connect(self._on_busy)
        vm.revealed.connect(self._on_revealed)
        vm.voted.connect(self._on_voted)
        vm.errorRaised.connect(self.status.setText)
        vm.continueWith.connect(self.continueWith)

    def _build(self) -> None:
        self.task_combo = QComboBox()
        self.task_combo.setAccessibleName("Task type")
        for words, task in self.vm.task_choices():
            self.task_combo.addItem(words, task)
            self.task_combo.setItemData(self.task_combo.count() - 1, task, Qt.ItemDataRole.ToolTipRole)
        self.model_list = QListWidget()
        self.model_list.setAccessibleName("Models to compare (check 2 to 4)")
        for model_id, name in self.vm.text_models():
            item = QListWidgetItem(name)  # the name; the id is the tooltip and the data a run uses
            item.setToolTip(model_id)
            item.setData(Qt.ItemDataRole.UserRole, model_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.model_list.addItem(item)
        self.hidden_models = QWidget()
        hidden_row = QHBoxLayout(self.hidden_models)
        self.hidden_label = QLabel()
        self.hidden_label.setAccessibleName("Models hidden until the vote")
        self.hidden_label.setWordWrap(True)
        self.show_names_button = QPushButton("Sho&w names")
        self.show_names_button.setAccessibleName("Show the model names without voting")
        self.show_names_button.clicked.connect(self.vm.reveal)
        hidden_row.addWidget(self.hidden_label, 1)
        hidden_row.addWidget(self.show_names_button)
        self.models_stack = QStackedWidget()
        self.models_stack.addWidget(self.model_list)
        self.models_stack.addWidget(self.hidden_models)
        self.top_count = QSpinBox()
        self.top_count.setRange(MIN_COLUMNS, MAX_COLUMNS)
        self.top_count.setAccessibleName("How many of the router's candidates")
        self.top_count.setToolTip("How many of the router's top candidates to check (2 to 4 columns)")
        self.top_count_label = QLabel("Column&s")
        self.top_count_label.setBuddy(self.top_count)
        self.propose_button = QPushButton("Ro&uter's top candidates")
        self.propose_button.setAccessibleName("Check the router's top candidates for the task")
        self.propose_button.clicked.connect(
            lambda: self.vm.propose(self.task_combo.currentData(), self.top_count.value())
        )
        self.blind_check = QCheckBox("Bl&ind (hide names until the vote)")
        self.blind_check.setAccessibleName("Blind comparison")
        self.prompt = QPlainTextEdit()
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setPlaceholderText("The prompt every model answers")
        self.compare_button = QPushButton("&Run comparison")
        self.compare_button.setAccessibleName("Run the comparison")
        self.compare_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Ca&ncel")
        self.cancel_button.setAccessibleName("Cancel the comparison")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.vm.cancel)
        self.status = QLabel()
        self.status.setAccessibleName("Comparison status")
        self.status.setWordWrap(True)

        setup = QWidget()
        grid = QGridLayout(setup)
        grid.addWidget(QLabel("Task"), 0, 0)
        grid.addWidget(self.task_combo, 0, 1)
        count_row = QHBoxLayout()
        count_row.addWidget(self.top_count_label)
        count_row.addWidget(self.top_count)
        grid.addLayout(count_row, 0, 2)
        grid.addWidget(self.propose_button, 0, 3)
        grid.addWidget(self.models_stack, 1, 0, 1, 2)
        grid.addWidget(self.prompt, 1, 2, 1, 2)
        grid.addWidget(self.blind_check, 2, 0, 1, 2)
        grid.addWidget(self.compare_button, 2, 2)
        grid.addWidget(self.cancel_button, 2, 3)

        self.columns_box = QHBoxLayout()
        holder = QWidget()
        holder.setLayout(self.columns_box)
        self.vote_buttons: dict[str, QPushButton] = {}
        votes = QHBoxLayout()
        for kind, text in (("a", "&A better"), ("b", "&B better"), ("tie", "Ti&e"), ("both_bad", "B&oth bad")):
            button = QPushButton(text)
            button.setAccessibleName(text.replace("&", ""))
            button.clicked.connect(lambda _=False, k=kind: self._vote(k))
            self.vote_buttons[kind] = button
            votes.addWidget(button)
        self.reset_rank = QPushButton("Reset ran&king")
        self.reset_rank.setAccessibleName("Reset the ranking")
        self.reset_rank.clicked.connect(self._reset_ranking)
        votes.addWidget(self.reset_rank)
        votes.addStretch(1)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.addWidget(holder, 1)
        lower_layout.addLayout(votes)
        lower_layout.addWidget(self.status)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("compare-splitter")
        splitter.addWidget(setup)
        splitter.addWidget(lower)
        splitter.setStretchFactor(1, 3)
        QVBoxLayout(self).addWidget(splitter)
        self._set_vote_enabled(False)

    # -- setup -------------------------------------------------------------------------------
    def checked_models(self) -> list[str]:
        return [
            self.model_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.model_list.count())
            if self.model_list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def _on_candidates(self, candidates: list[tuple[str, str]]) -> None:
        models = [model_id for model_id, _ in candidates]
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            item.setCheckState(
                Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in models else Qt.CheckState.Unchecked
            )
        self.status.setText("Router's top candidates: " + ", ".join(name for _, name in candidates))

    def _start(self) -> None:
        models = self.checked_models()
        if not MIN_COLUMNS <= len(models) <= MAX_COLUMNS:
            self.status.setText(f"Check {MIN_COLUMNS} to {MAX_COLUMNS} models ({len(models)} checked).")
            return
        self.vm.start(models, self.prompt.toPlainText(), self.task_combo.currentData(), self.blind_check.isChecked())

    # -- streaming ------------------------------------------------------------------------------
    def _on_started(self, shown: list[tuple[str, str]]) -> None:
        labels = [label for label, _ in shown]
        for column in self.columns:
            column.setParent(None)
            column.deleteLater()
        self.columns = []
        self._ranking = []
        self._results = {}
        self._set_models_hidden(self._blind(), len(labels))
        for index, label in enumerate(labels):
            column = AnswerColumn(index, label)
            column.title.setToolTip(shown[index][1])  # the id behind the name ("" while blind)
            column.rank_button.clicked.connect(lambda _=False, i=index: self._rank(i))
            column.continue_button.clicked.connect(lambda _=False, i=index: self.vm.continue_with(i))
            column.rank_button.setVisible(len(labels) > 2)
            self.columns_box.addWidget(column, 1)
            self.columns.append(column)
        for kind in ("a", "b"):
            self.vote_buttons[kind].setVisible(len(labels) == 2)
        # Alt+A for "All bad": "&A better" is hidden whenever it shows (Alt+D is the Edit menu)
        bad = "B&oth bad" if len(labels) == 2 else "&All bad"
        self.vote_buttons["both_bad"].setText(bad)
        self.vote_buttons["both_bad"].setAccessibleName(bad.replace("&", ""))
        self.reset_rank.setVisible(len(labels) > 2)
        self._set_vote_enabled(False)
        self.status.setText("Streaming…")

    def _on_chunk(self, column: int, text: str) -> None:
        self.columns[column].answer.append_text(text)

    def _on_column_finished(self, result: ColumnResult) -> None:
        col = self.columns[result.column]
        col.answer.set_text(result.output)
        self._results[result.column] = result
        if not result.error:
            col.continue_button.setEnabled(True)
        self._show_figures(result.column)

    def _show_figures(self, column: int) -> None:
        """A column's figures; while blind only that it finished (cost, speed and token
        counts tell models apart, and so can an error naming its provider)."""
        result = self._results.get(column)
        if result is None:
            return
        col = self.columns[column]
        if self._blind():
            hidden = "Failed (details after your vote)" if result.error else "Done · figures after your vote"
            col.figures.setText(hidden)
            return
        if result.error:
            col.figures.setText(f"Failed: {result.error}")
            return
        tps = "–" if result.tokens_per_s is None else f"{result.tokens_per_s:.0f} tok/s"
        col.figures.setText(
            f"TTFT {seconds_text(result.ttft_s)} · {tps} · {result.output_tokens} tokens · {usd_text(result.cost_usd)}"
        )

    def _blind(self) -> bool:
        """True while the comparison shown is blind and not yet revealed."""
        return self.vm.comparison is not None and self.vm.comparison.blind and not self.vm.comparison.revealed

    def _set_models_hidden(self, hidden: bool, count: int = 0) -> None:
        if hidden:
            self.hidden_label.setText(f"{count} models, hidden until your vote.")
        self.models_stack.setCurrentWidget(self.hidden_models if hidden else self.model_list)

    def _on_finished(self) -> None:
        blind = self._blind()
        self.status.setText("Vote: which answer is better?" + (" Names show after your vote." if blind else ""))
        self._set_vote_enabled(True)

    def _on_busy(self, busy: bool) -> None:
        self.compare_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    # -- voting ---------------------------------------------------------------------------------
    def _set_vote_enabled(self, enabled: bool) -> None:
        for button in self.vote_buttons.values():
            button.setEnabled(enabled)
        self.reset_rank.setEnabled(enabled)
        for column in self.columns:
            column.rank_button.setEnabled(enabled)

    def _stars(self) -> dict[int, int]:
        return {c.index: c.stars.value() for c in self.columns if c.stars.value()}

    def _vote(self, kind: str) -> None:
        self.vm.vote(kind, None, self._stars())

    def _rank(self, index: int) -> None:
        """Click the columns best first; the last one is implied, then the vote is cast."""
        if index in self._ranking:
            return
        self._ranking.append(index)
        self.columns[index].rank_button.setText(ORDINALS[len(self._ranking) - 1])
        self.columns[index].rank_button.setEnabled(False)
        if len(self._ranking) == len(self.columns) - 1:
            rest = next(i for i in range(len(self.columns)) if i not in self._ranking)
            self.vm.vote("ranking", [*self._ranking, rest], self._stars())

    def _reset_ranking(self) -> None:
        self._ranking = []
        for column in self.columns:
            column.rank_button.setText(f"Rank {column.label}")
            column.rank_button.setEnabled(True)

    def _on_voted(self, vote: Vote) -> None:
        self._set_vote_enabled(False)
        self.status.setText(f"Vote stored ({vote.kind}).")

    def _on_revealed(self, shown: list[tuple[str, str]]) -> None:
        for column, (label, model_id) in zip(self.columns, shown, strict=False):
            column.title.setText(f"<b>{label}</b>")  # the label is the model's name now
            column.title.setToolTip(model_id)
        for index in list(self._results):
            self._show_figures(index)
        self._set_models_hidden(False)


def create(
    services: PanelServices,
    parent: QWidget | None = None,
    executor: SerialExecutor | None = None,
    events: LedgerEvents | None = None,
) -> CompareView:
    """The compare panel over a :class:`core.services.Services`; connect ``view.continueWith``
    to the composer. ``events``: the app's ledger hub, told of each run and vote."""

    vm = CompareViewModel(
        services.workspace,
        services.dispatcher,
        services.votes,
        executor or SerialExecutor("sparklio-votes"),
        planner=services.planner,
        events=events,
    )
    view = CompareView(vm, parent)
    vm.setParent(view)
    return view
