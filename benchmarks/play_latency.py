"""`worldlab play` speed: frames/s and action → frame latency over the WebSocket.

    python benchmarks/play_latency.py RUN [--steps 300] [--threads 2] [--port 8765]
        [--control sampling_steps=4]  (a sampling control set before playing, repeatable)

Starts `worldlab play RUN` in a subprocess (as a user would), connects one
WebSocket client (the `websockets` package), starts from dataset episode 0 and
sends ``step`` messages with random actions as fast as frames come back. Each
round trip is one keypress → frame latency as the page measures it (inference,
PNG encoding of the model and real frames, the real world's step, JSON over
the socket). Frames/s is steps / wall time. The page plays at its target rate
(15 frames/s by default), so these numbers are the headroom above that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import statistics
import subprocess
import sys
import time

import websockets


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"the server did not listen on port {port} within {timeout} s")


async def measure(url: str, steps: int, warmup: int, controls: dict) -> dict:
    async with websockets.connect(url, max_size=2**24) as ws:
        hello = json.loads(await ws.recv())
        spec = hello["action_spec"]

        def action():
            if spec["kind"] == "continuous":
                return [random.uniform(-1, 1) for _ in range(spec["dims"])]
            return random.randrange(spec["n"]) if spec["kind"] == "discrete" else 0

        await ws.send(json.dumps({"type": "start", "source": "dataset", "episode": 0}))
        json.loads(await ws.recv())
        for name, value in controls.items():
            await ws.send(json.dumps({"type": "control", "name": name, "value": value}))
            reply = json.loads(await ws.recv())
            assert reply["type"] != "error", reply
        latencies = []
        began = time.perf_counter()
        for i in range(warmup + steps):
            if i == warmup:
                began = time.perf_counter()
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "step", "action": action(), "seq": i}))
            frame = json.loads(await ws.recv())
            assert frame["type"] == "frame" and frame["ack"] == i, frame
            if i >= warmup:
                latencies.append((time.perf_counter() - sent) * 1000)
        wall = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "family": hello["family"],
        "obs_shape": hello["obs_shape"],
        "real_world": frame["real"] is not None,
        "steps": steps,
        "controls": controls,
        "frames_per_s": round(steps / wall, 1),
        "latency_ms_p50": round(statistics.median(latencies), 1),
        "latency_ms_p95": round(cuts[94], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--control", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--precision", default="fp32", help="the server's inference precision")
    args = parser.parse_args()
    controls = {}
    for item in args.control:
        name, _, value = item.partition("=")
        controls[name] = json.loads(value) if value[:1].isdigit() or value[:1] == "-" else value
    port = args.port or free_port()
    command = [sys.executable, "-m", "worldlab.cli.main", "play", args.run, "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--threads", str(args.threads), "--precision", args.precision]
    )
    try:
        wait_for_port(port, server)
        result = asyncio.run(
            measure(f"ws://127.0.0.1:{port}/ws", args.steps, args.warmup, controls)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps({**result, "precision": args.precision}, indent=2))


if __name__ == "__main__":
    main()
