"""The status bar's Ollama figure with LAN Ollama hosts: the models of every host that
answers, how many of them the catalog knows, and how many hosts are down."""

from __future__ import annotations

from decimal import Decimal

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.settings.config import set_setting
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.status import StatusViewModel
from tests.fakes.ollama_server import OllamaServer


def test_the_status_counts_every_answering_host(qtbot, tmp_path, monkeypatch):
    executor = SerialExecutor()
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    try:
        with OllamaServer(installed=["llama3.2:latest"]) as a, OllamaServer(installed=["qwen2.5:latest"]) as b:
            monkeypatch.setenv("OLLAMA_HOST", a.base_url)
            set_setting("providers.ollama.hosts", f"{b.base_url}, 127.0.0.1:9")
            vm = StatusViewModel(Workspace(), BudgetGuard(ledger, Decimal(50), "local_only"), executor)
            assert vm._ollama() == "2 models on 2 hosts, 2 in the catalog; 1 host down"
    finally:
        ledger.close()
        executor.shutdown()
