"""View-models: QObjects with signals and async slots over the core; never widgets."""

from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.composer import ComposerViewModel, TaskInfo
from sparklio_desktop.ui.viewmodels.inspector import InspectorViewModel
from sparklio_desktop.ui.viewmodels.settings import SettingsViewModel
from sparklio_desktop.ui.viewmodels.spend import SpendFigures, SpendViewModel

__all__ = [
    "ComposerViewModel",
    "InspectorViewModel",
    "SerialExecutor",
    "SettingsViewModel",
    "SpendFigures",
    "SpendViewModel",
    "TaskInfo",
    "ViewModel",
]
