"""GPU utilisation sampled during a timed region: NVML (nvidia-ml-py) if present, else nvidia-smi.

NVML's "utilization.gpu" is the share of time in which at least one kernel ran, over its own
short sampling window: 100% means the GPU was never idle, not that its units were full.
"""

from __future__ import annotations

import statistics
import subprocess
import threading


class Sampler:
    def __init__(self, interval: float = 0.1, device: int = 0):
        self.interval, self.device = interval, device
        self.samples: list[float] = []
        self.memory_mib: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.source = None

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.device)
            self.source = "nvml"
            while not self._stop.wait(self.interval):
                self.samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                self.memory_mib.append(pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)
            return
        except Exception:  # no NVML binding or no driver: try the command line tool
            pass
        query = ["nvidia-smi", f"--id={self.device}", "--query-gpu=utilization.gpu,memory.used",
                 "--format=csv,noheader,nounits"]
        while not self._stop.wait(self.interval):
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.strip().split(",")
                self.samples.append(float(out[0]))
                self.memory_mib.append(float(out[1]))
                self.source = "nvidia-smi"
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return

    def result(self) -> dict:
        if not self.samples:
            return {"utilisation_percent": None, "source": None}
        return {"utilisation_percent": round(statistics.mean(self.samples), 1),
                "utilisation_median_percent": statistics.median(self.samples),
                "memory_used_mib_max": round(max(self.memory_mib)) if self.memory_mib else None,
                "samples": len(self.samples), "source": self.source}
