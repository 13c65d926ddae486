"""Under the Images form: the VRAM plan of the settings, and the GPU queue.

The plan line answers "will this run on my card?" before Generate is pressed: green when
it fits, amber when it fits only with savers (and slower), red when it will not fit, with
a button that runs the prompt on the cloud image model instead. Its tooltip has the
estimate part by part.

The queue lists every local image job, this page's and those of recipes and batches, the
running one first, each with its own cancel button. It hides itself when the GPU is idle.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from sparklio_desktop.ui.viewmodels.images import PlanPayload, QueueRow

WONT_FIT = "will not fit"
_COLOURS = {"fits": "#15803d", "fits with savers": "#b45309", WONT_FIT: "#b91c1c"}
_SOURCES = {"images": "", "recipe": " · recipe", "batch": " · batch", "cli": " · command line"}


class PlanLine(QWidget):
    """The VRAM verdict for the form's settings, and the cloud button when it will not fit."""

    cloudWanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setAccessibleName("VRAM plan")
        self.label.setWordWrap(True)
        self.cloud_button = QPushButton()
        self.cloud_button.setAccessibleName("Generate in the cloud instead")
        self.cloud_button.clicked.connect(self.cloudWanted)
        self.cloud_button.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cloud_button)
        self.plan: PlanPayload | None = None
        self.hide()

    def show_plan(self, plan: PlanPayload) -> None:
        self.plan = plan
        self.label.setText(plan.summary)
        self.label.setStyleSheet(f"color: {_COLOURS.get(plan.fit, '#b45309')};")
        self.setToolTip("\n".join(plan.lines))
        cloud = plan.cloud
        self.cloud_button.setVisible(plan.fit == WONT_FIT and cloud is not None)
        if cloud is not None:
            self.cloud_button.setText(f"Use {cloud} instead")
            self.cloud_button.setToolTip(f"Send this prompt to {cloud} (paid, within your budget)")
        self.show()

    def show_unavailable(self, why: str) -> None:
        """No plan: nothing installed, or a setting the local model refuses (said in words)."""
        self.plan = None
        self.cloud_button.hide()
        self.label.setText(why)
        self.label.setStyleSheet("color: palette(placeholder-text);")
        self.setToolTip("")
        self.setVisible(bool(why))


class GpuQueuePanel(QWidget):
    """Every local image job in line for the GPU, each with a cancel button."""

    cancelWanted = Signal(str)  # a job id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("GPU queue")
        self._rows = QVBoxLayout(self)
        self._rows.setContentsMargins(0, 4, 0, 0)
        self._rows.setSpacing(2)
        self.title = QLabel("<b>GPU queue</b>")
        self._rows.addWidget(self.title)
        self.jobs: list[QueueRow] = []
        self.hide()

    def show_jobs(self, jobs: list[QueueRow]) -> None:
        self.jobs = list(jobs)
        while self._rows.count() > 1:  # keep the title
            item = self._rows.takeAt(1)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for job in self.jobs:
            self._rows.addWidget(self._row(job))
        self.setVisible(bool(self.jobs))

    def _row(self, job: QueueRow) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        where = "Running" if job.running else f"{job.place + 1}."
        text = QLabel(f"{where}  {job.label}{_SOURCES.get(job.source, ' · ' + job.source)}")
        text.setAccessibleName(f"GPU job {job.place + 1}")
        cancel = QToolButton()
        cancel.setText("✕")
        cancel.setAccessibleName(f"Cancel GPU job {job.place + 1}")
        cancel.setToolTip("Stop this job" if job.running else "Take this job out of the queue")
        cancel.clicked.connect(lambda: self.cancelWanted.emit(job.job_id))
        layout.addWidget(text, 1)
        layout.addWidget(cancel)
        return row
