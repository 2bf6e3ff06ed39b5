import torch
from torch.nn import functional as F

from worldlab.evaluate.sharpness import gradient_energy, laplacian_variance, sharpness_ratios


def frames_with_a_ball(blur: int = 0) -> torch.Tensor:
    """A white disc on black, 32×32, optionally box-blurred ``blur`` times."""
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    image = ((rows - 16) ** 2 + (cols - 12) ** 2 < 36).float()[None, None]
    for _ in range(blur):
        image = F.avg_pool2d(image, 3, stride=1, padding=1)
    return (image[0, 0, :, :, None].expand(32, 32, 3) * 255).round().to(torch.uint8)[None]


def test_a_frame_is_as_sharp_as_itself_and_blur_lowers_both_measures():
    sharp, blurred = frames_with_a_ball(), frames_with_a_ball(blur=3)
    assert sharpness_ratios(sharp, sharp) == {"gradient_energy": 1.0, "laplacian_variance": 1.0}
    ratios = sharpness_ratios(blurred, sharp)
    assert ratios["gradient_energy"] < 0.6 and ratios["laplacian_variance"] < 0.3


def test_flat_frames_have_no_sharpness_and_noise_has_more_than_a_ball():
    flat = torch.full((2, 32, 32, 3), 90, dtype=torch.uint8)
    assert gradient_energy(flat).eq(0).all() and laplacian_variance(flat).eq(0).all()
    noise = torch.randint(
        0, 256, (1, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    assert sharpness_ratios(noise, frames_with_a_ball())["gradient_energy"] > 1
