"""What an online run writes as it learns: ``metrics.jsonl`` (training metrics, by update)
and ``eval.jsonl`` (the learning curve: real-world return and success per evaluation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS, EVALUATIONS = "metrics.jsonl", "eval.jsonl"


class OnlineLog:
    def __init__(self, run: Path):
        self.run = Path(run)
        self.last_eval: dict[str, Any] | None = None

    def clear(self) -> None:
        """Start both logs over (a run that starts from scratch)."""
        for name in (METRICS, EVALUATIONS):
            (self.run / name).unlink(missing_ok=True)

    def metrics(self, env_step: int, step: int, metrics: dict[str, float]) -> None:
        self._append(METRICS, {"env_step": env_step, "step": step, **metrics})

    def evaluation(self, env_step: int, updates: int, elapsed: float, result: dict) -> None:
        """One point of the learning curve, from what ``play_in_world`` returned."""
        keys = ("mean_return", "return_ci", "success_rate", "success_ci")
        entry = {
            "env_step": env_step,
            "updates": updates,
            "elapsed_s": round(elapsed, 2),
            **{k: result[k] for k in keys},
            "returns": result["returns"],
        }
        self._append(EVALUATIONS, entry)
        self.last_eval = entry

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with open(self.run / name, "a") as file:
            file.write(json.dumps(record) + "\n")
