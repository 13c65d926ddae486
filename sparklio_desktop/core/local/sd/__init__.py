"""Local Stable Diffusion: probe, store, import and run checkpoints.

``probe`` reads a checkpoint's safetensors header; ``diffusers_dirs`` reads diffusers folders;
``families`` lists the model families; ``weights`` finds, imports and deletes checkpoints;
``store`` keeps per-checkpoint choices; ``configs`` ships offline pipeline configs; ``pipeline``,
``runtime`` and ``service`` run generation (torch and diffusers imported lazily). The public
names are re-exported by :mod:`sparklio_desktop.core.local`.
"""
