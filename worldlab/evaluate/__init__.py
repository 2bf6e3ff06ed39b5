"""Evaluation: open-loop fidelity per horizon beside trivial baselines, then sections
(controllability ΔtPSNR, physics on ``bounce``), latent-to-real action maps, imagination
videos, and the HTML report."""

from worldlab.evaluate.action_map import ActionMap, fit_action_map, with_real_actions
from worldlab.evaluate.controllability import delta_psnr
from worldlab.evaluate.imagine import comparison_frames, imagine_episode, write_imagination
from worldlab.evaluate.metrics import difference_ci, mean_ci, psnr, ssim
from worldlab.evaluate.open_loop import (
    evaluate_open_loop,
    mean_dataset_frame,
    plot_over_horizon,
    save_report,
)
from worldlab.evaluate.physics.reader import read_balls
from worldlab.evaluate.physics.section import has_physics, physics_section
from worldlab.evaluate.report import write_html_report
from worldlab.evaluate.run import evaluate_run
from worldlab.evaluate.sections import EvalOptions, Section, all_sections

__all__ = [
    "ActionMap",
    "EvalOptions",
    "Section",
    "all_sections",
    "comparison_frames",
    "delta_psnr",
    "evaluate_open_loop",
    "evaluate_run",
    "fit_action_map",
    "has_physics",
    "physics_section",
    "read_balls",
    "imagine_episode",
    "difference_ci",
    "mean_ci",
    "mean_dataset_frame",
    "plot_over_horizon",
    "psnr",
    "save_report",
    "ssim",
    "with_real_actions",
    "write_html_report",
    "write_imagination",
]
