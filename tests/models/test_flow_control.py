"""Control branches and styles on the flow model (control transfer), and the control maps."""

import numpy as np
import pytest
import torch

from worldlab.errors import WorldlabError
from worldlab.models.base import ActionSpec
from worldlab.models.controls import canny, control_input
from worldlab.models.flow.config import PRESETS, FlowConfig
from worldlab.models.flow.model import FlowWorldModel
from worldlab.worlds._draw import fill_circle, fill_rect

DISCRETE = ActionSpec.from_manifest({"type": "discrete", "n": 2})


def squares(rng, count, steps, size=16):
    """Frames with one yellow square each, placed independently: only a control says where."""
    out = np.zeros((count, steps, size, size, 3), np.uint8)
    corners = rng.integers(2, size - 7, (count, steps, 2))
    for i in range(count):
        for t in range(steps):
            x, y = corners[i, t]
            out[i, t, y : y + 5, x : x + 5] = (230, 200, 60)
    return out


def batch_of(obs, **extra):
    count, steps = obs.shape[:2]
    return {
        "obs": torch.from_numpy(obs),
        "action": torch.zeros(count, steps, dtype=torch.long),
        "reward": torch.zeros(count, steps),
        "terminated": torch.zeros(count, steps, dtype=torch.bool),
        "is_first": torch.zeros(count, steps, dtype=torch.bool),
        **extra,
    }


def model_with(**settings):
    torch.manual_seed(0)
    config = FlowConfig(**{**PRESETS["tiny"], **settings})
    return FlowWorldModel(config, (16, 16, 3), DISCRETE)


def test_canny_finds_the_outline_of_a_disc_and_a_square():
    frame = np.zeros((1, 32, 32, 3), np.uint8)
    fill_circle(frame[0], 12.0, 12.0, 6, (200, 200, 200))
    fill_rect(frame[0], 20, 20, 29, 29, (90, 160, 240))
    edges = canny(torch.from_numpy(frame))[0].numpy()
    ys, xs = np.nonzero(edges)
    on_disc = np.abs(np.hypot(xs + 0.5 - 12, ys + 0.5 - 12) - 6) <= 1.5
    on_square = (xs >= 19) & (xs <= 29) & (ys >= 19) & (ys <= 29)
    assert (on_disc | on_square).all()  # no edge off the outlines
    assert on_disc.sum() >= 24 and on_square.sum() >= 24  # both outlines found
    assert not canny(torch.zeros(1, 32, 32, 3, dtype=torch.uint8)).any()


def test_control_inputs_have_their_channels_and_range():
    frames = torch.from_numpy(squares(np.random.default_rng(0), 2, 1)[:, 0])
    seg = torch.tensor([[0, 1], [2, 9]], dtype=torch.uint8).repeat(2, 8, 8)
    assert control_input("edge", frames).shape == (2, 1, 16, 16)
    assert control_input("blur", frames).shape == (2, 3, 16, 16)
    one_hot = control_input("seg", maps=seg, seg_classes=4)
    assert one_hot.shape == (2, 4, 16, 16) and one_hot.max() == 1 and one_hot.min() == -1
    assert one_hot[0, 3, 1, 1] == 1  # class 9 shares the last channel
    with pytest.raises(WorldlabError, match="no 'depth' maps"):
        control_input("depth", frames)


@pytest.mark.parametrize("backbone", ["unet", "dit"])
def test_fresh_branches_change_nothing_and_weight_zero_is_no_control(backbone):
    """ControlNet's zero convolutions: a new branch leaves the base model's output as it was."""
    model = model_with(controls=["edge", "seg"], seg_classes=4, ema_decay=0.0, backbone=backbone)
    with torch.no_grad():  # a base that has learned something (a fresh DiT outputs zeros)
        for p in [*model.denoiser.parameters(), *model.conditioning.parameters()]:
            p.add_(torch.randn_like(p) * 0.05)
    obs = torch.from_numpy(squares(np.random.default_rng(1), 3, 5))
    controls = {
        "edge": (control_input("edge", obs[:, -1]), torch.ones(3)),
        "seg": (control_input("seg", maps=obs[:, -1, ..., 0] // 100, seg_classes=4), torch.ones(3)),
    }
    torch.manual_seed(3)
    plain = model.generate_frame(obs[:, :4], torch.zeros(3, dtype=torch.long))
    torch.manual_seed(3)
    controlled = model.generate_frame(
        obs[:, :4], torch.zeros(3, dtype=torch.long), controls=controls
    )
    assert torch.equal(plain, controlled)
    # After some training the branch matters, except at weight 0.
    with torch.no_grad():
        for p in model.control.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    off = {name: (m, torch.zeros(3)) for name, (m, _) in controls.items()}
    torch.manual_seed(3)
    assert torch.equal(
        plain, model.generate_frame(obs[:, :4], torch.zeros(3, dtype=torch.long), controls=off)
    )
    torch.manual_seed(3)
    on = model.generate_frame(obs[:, :4], torch.zeros(3, dtype=torch.long), controls=controls)
    assert not torch.equal(plain, on)
    spatial = {"edge": (controls["edge"][0], torch.zeros(3, 1, 16, 16))}
    torch.manual_seed(3)
    assert torch.equal(
        plain, model.generate_frame(obs[:, :4], torch.zeros(3, dtype=torch.long), controls=spatial)
    )


@pytest.mark.parametrize("backbone", ["unet", "dit"])
def test_the_edge_branch_learns_where_things_are(backbone):
    """Squares placed independently of the past: only the edge map tells where the next one
    is. After a short training, true edges give a far better frame than shuffled ones."""
    rng = np.random.default_rng(0)
    model = model_with(
        controls=["edge"], first_frame_dropout=0.2, ema_decay=0.0, lr=1e-3, backbone=backbone
    )
    optimizer = model.optimizer()
    for _ in range(80 if backbone == "unet" else 160):  # the tiny DiT learns slower
        loss, _ = model.loss(batch_of(squares(rng, 16, 4)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    test = torch.from_numpy(squares(np.random.default_rng(9), 32, 2))

    def psnr(edges_of):
        controls = {"edge": (control_input("edge", edges_of), torch.ones(32))}
        frame = model.generate_frame(None, None, controls=controls, batch_size=32)
        error = (frame.float() - test[:, 1].float()).pow(2).mean()
        return float(10 * torch.log10(255**2 / error))

    true, shuffled = psnr(test[:, 1]), psnr(test[torch.randperm(32), 1])
    assert true > shuffled + 3, (true, shuffled)


def test_styles_and_controls_are_read_from_the_batch_with_clear_errors():
    obs = squares(np.random.default_rng(2), 4, 5)
    model = model_with(styles=3, controls=["seg"], seg_classes=4)
    seg = torch.from_numpy(obs[..., 0] // 100)
    loss, metrics = model.loss(batch_of(obs, style=torch.ones(4, 5, dtype=torch.long), seg=seg))
    assert torch.isfinite(loss)
    with pytest.raises(WorldlabError, match="no 'style' array"):
        model.loss(batch_of(obs, seg=seg))
    with pytest.raises(WorldlabError, match="model.styles"):
        model.loss(batch_of(obs, style=torch.full((4, 5), 5), seg=seg))
    with pytest.raises(WorldlabError, match="no 'seg' maps"):
        model.loss(batch_of(obs, style=torch.ones(4, 5, dtype=torch.long)))
    frame = model.generate_frame(
        None, None, style=torch.tensor([0, 2]), batch_size=2,
        controls={"seg": (control_input("seg", maps=seg[:2, 0], seg_classes=4), torch.ones(2))},
    )  # fmt: skip
    assert frame.shape == (2, 16, 16, 3) and frame.dtype == torch.uint8
    with pytest.raises(WorldlabError, match="no branch for control edge"):
        model.generate_frame(None, None, controls={"edge": (None, None)}, batch_size=2)


def test_controls_need_known_names_and_a_positive_spacing():
    with pytest.raises(WorldlabError, match="unknown control 'normals'"):
        model_with(controls=["normals"])
    with pytest.raises(WorldlabError, match="control_every must be ≥ 1"):
        model_with(controls=["edge"], control_every=0)


def test_dit_branches_copy_every_kth_block_and_feed_only_those():
    model = model_with(controls=["edge"], backbone="dit", depth=4, control_every=2)
    branch = model.control.branches["edge"]
    assert len(branch.blocks) == 2
    with torch.no_grad():
        for p in branch.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    noisy, context = torch.randn(2, 3, 16, 16), torch.randn(2, 1, 3, 16, 16)
    residuals, middle = branch(noisy, context, torch.randn(2, 1, 16, 16), torch.randn(2, 32))
    assert middle is None and [r is not None for r in residuals] == [True, False, True, False]
    assert residuals[0].shape == (2, 2, 4, 4, 32)  # frames, rows, columns, width


def coloured_squares(hues, steps=2, size=16):
    """A square in the middle whose colour is ``hue`` at full saturation: only the hue
    input says which colour it is."""
    import colorsys

    out = np.zeros((len(hues), steps, size, size, 3), np.uint8)
    for i, hue in enumerate(hues):
        rgb = [round(255 * c) for c in colorsys.hsv_to_rgb(float(hue), 1.0, 0.9)]
        out[i, :, 4:12, 4:12] = rgb
    return out


def test_the_hue_input_is_periodic_and_says_none_below_zero():
    from worldlab.models.flow.conditioning import Conditioning

    torch.manual_seed(0)
    cond = Conditioning(16, 0, 2, hue=True)
    torch.nn.init.normal_(cond.no_hue)
    args = (torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.long), None, None)
    turned = cond(*args, hue=torch.tensor([0.0, 0.25, -1.0]))
    again = cond(*args, hue=torch.tensor([1.0, 0.25, -1.0]))
    assert torch.allclose(turned, again, atol=1e-5)  # 0 and 1 are one hue
    assert not torch.allclose(turned[0], turned[1])
    assert torch.allclose(turned[2], cond(*args)[2])  # < 0 is the same as no hue given


def test_the_hue_input_learns_which_colour_to_draw():
    """Squares whose colour is their hue: after a short training, frames drawn with the
    true hue are far closer than frames drawn with shuffled hues."""
    rng = np.random.default_rng(0)
    model = model_with(hue_input=True, first_frame_dropout=1.0, ema_decay=0.0, lr=2e-3)
    optimizer = model.optimizer()
    for _ in range(240):
        hues = rng.uniform(0, 1, 16)
        batch = batch_of(
            coloured_squares(hues), hue=torch.tensor(hues).float()[:, None].repeat(1, 2)
        )
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    hues = np.random.default_rng(9).uniform(0, 1, 32)
    test = torch.from_numpy(coloured_squares(hues)[:, 0])

    def error(told):
        frame = model.generate_frame(None, None, batch_size=32, hue=torch.tensor(told).float())
        return float((frame.float() - test.float())[:, 4:12, 4:12].pow(2).mean())

    true, shuffled = error(hues), error(np.roll(hues, 16))
    assert true * 2 < shuffled, (true, shuffled)
    # Guidance on the hue pushes away from the hue-free prediction: other frames, still true.
    torch.manual_seed(1)
    plain = model.generate_frame(None, None, batch_size=32, hue=torch.tensor(hues).float())
    with model.sampling(hue_guidance=2.0):
        torch.manual_seed(1)
        guided = model.generate_frame(None, None, batch_size=32, hue=torch.tensor(hues).float())
        assert error(hues) * 2 < shuffled
    assert not torch.equal(plain, guided)


def test_hue_is_read_from_the_batch_with_clear_errors():
    obs = squares(np.random.default_rng(2), 4, 5)
    model = model_with(hue_input=True)
    loss, _ = model.loss(batch_of(obs, hue=torch.full((4, 5), 0.3)))
    assert torch.isfinite(loss)
    with pytest.raises(WorldlabError, match="no 'hue' array"):
        model.loss(batch_of(obs))
    with pytest.raises(WorldlabError, match="one hue per sample"):
        model.generate_frame(None, None, batch_size=2, hue=torch.zeros(3))
    with pytest.raises(WorldlabError, match="without a hue input"):
        model_with().generate_frame(None, None, batch_size=2, hue=torch.zeros(2))


def test_the_palette_map_carries_the_hue_where_seg_says():
    from worldlab.models.flow.conditioning import HUE_HARMONICS, hue_features, palette_map

    seg = control_input(
        "seg", maps=torch.tensor([[[0, 1], [2, 1]]], dtype=torch.uint8), seg_classes=3
    )
    laid = palette_map(seg.repeat(3, 1, 1, 1), torch.tensor([0.25, 1.25, -1.0]))
    assert laid.shape == (3, 3 + 3 * 2 * HUE_HARMONICS, 2, 2)
    assert torch.equal(laid[:, :3], seg.repeat(3, 1, 1, 1))  # the one-hot is kept as it was
    palette = laid[:, 3:].unflatten(1, (3, 2 * HUE_HARMONICS))
    features = hue_features(torch.tensor([0.25]))[0]
    assert torch.allclose(palette[0, 1, :, 0, 1], features)  # class 1's pixel: the hue
    assert torch.allclose(palette[0, 1, :, 1, 1], features)
    assert not palette[0, 1, :, 0, 0].any() and not palette[0, 0, :, 0, 1].any()  # elsewhere 0
    assert torch.allclose(palette[0], palette[1], atol=1e-5)  # a turn is periodic
    assert not palette[2].any()  # no hue (guidance's other half): no palette
    assert not palette_map(seg, None)[:, 3:].any()


def test_the_palette_map_needs_a_hue_and_a_seg_control():
    with pytest.raises(WorldlabError, match="hue_map"):
        model_with(hue_map=True, controls=["seg"])
    with pytest.raises(WorldlabError, match="hue_map"):
        model_with(hue_map=True, hue_input=True, controls=["edge"])
    model = model_with(hue_map=True, hue_input=True, controls=["seg"])
    hint = model.control.branches["seg"].hint[0]
    assert hint.in_channels == 8 + 8 * 8  # seg classes, and each class times 8 hue features


def placed_squares(rng, hues, size=16):
    """A square of hue ``hues[i]`` at a random place per sample, and its seg map (class 1)."""
    import colorsys

    obs = np.zeros((len(hues), 2, size, size, 3), np.uint8)
    seg = np.zeros((len(hues), 2, size, size), np.uint8)
    corners = rng.integers(1, size - 6, (len(hues), 2))
    for i, hue in enumerate(hues):
        x, y = corners[i]
        obs[i, :, y : y + 5, x : x + 5] = [round(255 * c) for c in colorsys.hsv_to_rgb(hue, 1, 0.9)]
        seg[i, :, y : y + 5, x : x + 5] = 1
    return obs, seg


def test_the_palette_map_learns_colours_sooner_than_the_hue_alone():
    """Squares placed at random, coloured by their hue: after the same short training, a
    model with the palette map draws them nearer their true colour than one told the hue
    only through its conditioning vector, and far nearer than with shuffled hues."""

    def trained(hue_map: bool) -> FlowWorldModel:
        rng = np.random.default_rng(0)
        settings = dict(first_frame_dropout=1.0, control_dropout=0.0, ema_decay=0.0, lr=2e-3)
        model = model_with(controls=["seg"], hue_input=True, hue_map=hue_map, **settings)
        optimizer = model.optimizer()
        for _ in range(300):
            hues = rng.uniform(0, 1, 16)
            obs, seg = placed_squares(rng, hues)
            hue = torch.tensor(hues).float()[:, None].repeat(1, 2)
            loss, _ = model.loss(batch_of(obs, hue=hue, seg=torch.from_numpy(seg)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return model.eval()

    hues = np.random.default_rng(9).uniform(0, 1, 32)
    obs, seg = placed_squares(np.random.default_rng(9), hues)
    inside = torch.from_numpy(seg[:, 0] == 1)
    controls = {"seg": (control_input("seg", maps=torch.from_numpy(seg[:, 0])), torch.ones(32))}

    def error(model, told):
        torch.manual_seed(1)
        told = torch.tensor(told).float()
        frame = model.generate_frame(None, None, controls=controls, batch_size=32, hue=told)
        return float((frame.float() - torch.from_numpy(obs[:, 0]).float())[inside].pow(2).mean())

    mapped, plain = trained(True), trained(False)
    true, shuffled = error(mapped, hues), error(mapped, np.roll(hues, 16))
    assert true * 4 < shuffled, (true, shuffled)  # 1,293 against 17,898 when written
    assert true * 2 < error(plain, hues), (true, error(plain, hues))  # 1,293 against 5,341
