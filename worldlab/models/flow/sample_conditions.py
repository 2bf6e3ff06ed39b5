"""What each training target of ``flow`` is conditioned on besides its context: its style,
hue, caption and control maps, read from the batch at ``rows, times`` and dropped per
sample at the config's rates (so the model also runs without each, and guidance works).
A condition the config asks for but the data lacks is an error that says what to do."""

from __future__ import annotations

import torch

from worldlab.errors import WorldlabError
from worldlab.models.controls import control_input
from worldlab.models.flow.config import FlowConfig


def training_style(c: FlowConfig, batch, rows, times) -> torch.Tensor | None:
    """Each target's style id, −1 where dropped (so the model also runs without)."""
    if not c.styles:
        return None
    if "style" not in batch:
        raise WorldlabError(
            "model.styles is set but the data has no 'style' array: collect a built-in "
            "world with --skins, or set model.styles=0"
        )
    style = batch["style"][rows, times].long()
    if int(style.max()) >= c.styles:
        raise WorldlabError(
            f"the data has style id {int(style.max())}, but model.styles = "
            f"{c.styles}: set model.styles above it"
        )
    dropped = torch.rand(len(rows), device=style.device) < c.style_dropout
    return torch.where(dropped, -1, style)


def training_hue(c: FlowConfig, batch, rows, times) -> torch.Tensor | None:
    """Each target's object hue turn, −1 where unknown or dropped."""
    if not c.hue_input:
        return None
    if "hue" not in batch:
        raise WorldlabError(
            "model.hue_input is set but the data has no 'hue' array: collect a built-in "
            "world with --skins (worldlab collect records each episode's hue), or set "
            "model.hue_input=false"
        )
    hue = batch["hue"][rows, times].float()
    dropped = torch.rand(len(rows), device=hue.device) < c.hue_dropout
    return torch.where(dropped, -1.0, hue)


def training_text(c: FlowConfig, batch, rows, times) -> torch.Tensor | None:
    """Each target's caption embedding, zeroed where dropped (guidance) or absent."""
    dims = c.text_dims
    if not dims:
        return None
    if "text" not in batch:
        raise WorldlabError(
            "model.text_dims is set but the data has no 'text' array: embed the captions "
            "first (worldlab data embed-captions DATA), or set model.text_dims=0"
        )
    text = batch["text"][rows, times].float()
    if text.shape[-1] != dims:
        raise WorldlabError(
            f"the data's caption embeddings have {text.shape[-1]} dimensions, "
            f"model.text_dims is {dims}: embed with the model's encoder or set text_dims"
        )
    kept = torch.rand(len(rows), device=text.device) >= c.text_dropout
    return text * kept[:, None]


def training_controls(c: FlowConfig, batch, rows, times) -> dict[str, tuple]:
    """Each control of the target frames, with weight 0 where left out (dropout), so
    any subset of controls works at inference."""
    controls = {}
    for name in c.controls:
        maps = batch[name][rows, times] if name in batch else None
        control = control_input(name, batch["obs"][rows, times], maps, c.seg_classes)
        kept = torch.rand(len(rows), device=control.device) >= c.control_dropout
        controls[name] = (control.to(memory_format=torch.channels_last), kept.float())
    return controls
