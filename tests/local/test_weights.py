"""Listing, pickle trust, import and delete of checkpoints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sparklio_desktop.core.local import (
    CheckpointStore,
    LocalImageEngine,
    LocalModelError,
    ModelType,
    PickleRefused,
    default_weights_dir,
    delete_checkpoint,
    import_checkpoint,
    list_checkpoints,
)
from tests.local.headers import write_safetensors
from tests.local.tiny_sd import TinySD

SD1_SPEC = {
    "model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3)),
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, 768)),
}


@pytest.fixture
def a1111(tmp_path: Path, tiny_sd: TinySD) -> Path:
    """An AUTOMATIC1111-style folder: nested files, a VAE companion, a pickle, a diffusers folder."""
    root = tmp_path / "stable-diffusion-webui" / "models" / "Stable-diffusion"
    (root / "anime").mkdir(parents=True)
    write_safetensors(root / "dreamshaper_8.safetensors", SD1_SPEC)
    write_safetensors(root / "anime" / "counterfeit.safetensors", SD1_SPEC)
    (root / "dreamshaper_8.vae.pt").write_bytes(b"vae")
    (root / "old-model.ckpt").write_bytes(b"\x80\x04pickled")
    (root / "notes.txt").write_text("not a model")
    shutil.copytree(tiny_sd.diffusers_dir, root / "tiny-diffusers")
    return root


def test_lists_user_folders_in_place(a1111: Path) -> None:
    found = {c.name: c for c in list_checkpoints([a1111])}
    assert set(found) == {"dreamshaper_8", "counterfeit", "old-model", "tiny-diffusers"}
    assert found["counterfeit"].path == a1111 / "anime" / "counterfeit.safetensors"
    assert found["tiny-diffusers"].format == "diffusers" and not found["tiny-diffusers"].pickle
    old = found["old-model"]
    assert old.format == "pickle" and old.pickle and not old.trusted and not old.loadable
    assert list(default_weights_dir().iterdir()) == []  # nothing copied


def test_default_folder_is_always_listed(a1111: Path) -> None:
    write_safetensors(default_weights_dir() / "mine.safetensors", SD1_SPEC)
    names = [c.name for c in list_checkpoints()]
    assert names == ["mine"]
    assert "mine" in [c.name for c in list_checkpoints([a1111])]


def test_pickle_refused_until_trusted_then_trust_follows_the_file(a1111: Path) -> None:
    ckpt = a1111 / "old-model.ckpt"
    with pytest.raises(PickleRefused, match="can run code"):
        import_checkpoint(ckpt)
    with pytest.raises(PickleRefused):
        LocalImageEngine(device="cpu").load(ckpt, model_type=ModelType.SD1)
    store = CheckpointStore()
    with pytest.raises(ValueError, match="confirm=True"):
        store.trust_pickle(ckpt, confirm=False)
    store.trust_pickle(ckpt, confirm=True)
    assert CheckpointStore().is_pickle_trusted(ckpt)
    copied = import_checkpoint(ckpt, mode="copy")
    assert copied.pickle and copied.trusted  # a byte-identical copy keeps the opt-in
    ckpt.write_bytes(b"\x80\x04changed by someone")
    assert not CheckpointStore().is_pickle_trusted(ckpt)  # a changed file is a new decision


def test_import_copy_and_link(a1111: Path) -> None:
    src = a1111 / "dreamshaper_8.safetensors"
    reported: list[tuple[int, int]] = []
    copied = import_checkpoint(src, mode="copy", progress=lambda done, total: reported.append((done, total)))
    assert reported[-1] == (src.stat().st_size, src.stat().st_size)
    assert copied.path.parent == default_weights_dir() and not copied.is_link
    assert copied.path.read_bytes() == src.read_bytes()
    with pytest.raises(LocalModelError, match="already"):
        import_checkpoint(src)
    linked = import_checkpoint(a1111 / "anime" / "counterfeit.safetensors", mode="link")
    assert linked.is_link and linked.path.resolve() == (a1111 / "anime" / "counterfeit.safetensors").resolve()
    folder = import_checkpoint(a1111 / "tiny-diffusers", mode="link")
    assert folder.format == "diffusers" and folder.is_link
    names = [c.name for c in list_checkpoints([a1111])]
    assert names.count("counterfeit") == 1  # the link and its target are one checkpoint


def test_import_copy_of_a_diffusers_folder_keeps_the_type_override(a1111: Path) -> None:
    src = a1111 / "tiny-diffusers"
    CheckpointStore().set_type_override(src, ModelType.SD2)
    copied = import_checkpoint(src, mode="copy")
    assert (copied.path / "model_index.json").is_file() and not copied.is_link
    assert sorted(p.relative_to(copied.path) for p in copied.path.rglob("*")) == sorted(
        p.relative_to(src) for p in src.rglob("*")
    )
    assert CheckpointStore().type_override(copied.path) is ModelType.SD2


def test_delete_needs_confirm_and_never_follows_links(a1111: Path) -> None:
    target = a1111 / "dreamshaper_8.safetensors"
    link = import_checkpoint(target, mode="link")
    with pytest.raises(ValueError, match="confirm=True"):
        delete_checkpoint(link, confirm=False)
    with pytest.raises(TypeError):
        delete_checkpoint(link)  # type: ignore[call-arg]
    delete_checkpoint(link, confirm=True)
    assert not os.path.lexists(link.path) and target.exists()
    delete_checkpoint(target, confirm=True)
    assert not target.exists()
    delete_checkpoint(a1111 / "tiny-diffusers", confirm=True)
    assert not (a1111 / "tiny-diffusers").exists()


def test_delete_refuses_what_is_not_a_checkpoint(a1111: Path) -> None:
    with pytest.raises(LocalModelError, match="not a checkpoint"):
        delete_checkpoint(a1111 / "anime", confirm=True)
    with pytest.raises(LocalModelError):
        delete_checkpoint(a1111 / "notes.txt", confirm=True)
    assert (a1111 / "anime").is_dir()


def test_delete_of_an_untrusted_pickle_is_allowed(a1111: Path) -> None:
    delete_checkpoint(a1111 / "old-model.ckpt", confirm=True)
    assert not (a1111 / "old-model.ckpt").exists()


def test_a_corrupt_store_is_set_aside_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    path.write_text("{ not json")
    store = CheckpointStore(path)
    assert not store.is_pickle_trusted(tmp_path)
    assert (tmp_path / "checkpoints.json.bad").exists()
