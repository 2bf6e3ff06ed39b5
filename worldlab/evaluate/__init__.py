"""Evaluation: open-loop fidelity per horizon beside trivial baselines, imagination videos,
and the HTML report."""

from worldlab.evaluate.imagine import comparison_frames, imagine_episode, write_imagination
from worldlab.evaluate.metrics import mean_ci, psnr, ssim
from worldlab.evaluate.open_loop import (
    evaluate_open_loop,
    mean_dataset_frame,
    plot_over_horizon,
    save_report,
)
from worldlab.evaluate.report import write_html_report
from worldlab.evaluate.run import evaluate_run

__all__ = [
    "comparison_frames",
    "evaluate_open_loop",
    "evaluate_run",
    "imagine_episode",
    "mean_ci",
    "mean_dataset_frame",
    "plot_over_horizon",
    "psnr",
    "save_report",
    "ssim",
    "write_html_report",
    "write_imagination",
]
