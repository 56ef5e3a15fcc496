"""Keep TensorFlow's start-up chatter out of worker logs, and every real error in them.

Each process that imports TensorFlow writes a handful of lines to its stderr before any Python
logging exists (absl's pre-init banner, oneDNN, the CUDA stub's search for a driver), and on a host
without an NVIDIA GPU one of them is at error level: `E0000 … failed call to cuInit: … UNKNOWN
ERROR (303)`. A user reading a worker's log sees an error that is not one, several times per trial.
`TF_CPP_MIN_LOG_LEVEL` cannot drop it without dropping every other error too, and it does not
reach the lines written before absl is initialised.

So a trial process sends its stderr through `grep -v` of those exact lines. The filter is its own
process: it drains everything the trial wrote even when the trial crashes or is killed, so a
segfault's or an out-of-memory message still reaches the log. A `cuInit` failure is kept where the
host has an NVIDIA device (there it is a real error: a driver mismatch, a device in use).
`hpsearch -v` keeps everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess

# Set by `hpsearch -v` (search.cli.commands.setup_logging); trial processes inherit it.
KEEP_ALL_ENV = "HPSEARCH_TF_STARTUP_LOGS"

# Lines TensorFlow 2.21 prints at every import on any host (seen in worker logs on CPU hosts).
ALWAYS_NOISE = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"port\.cc:[0-9]+\] oneDNN custom operations are on",
    r"cudart_stub\.cc:[0-9]+\] Could not find cuda drivers on your machine",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* in other operations, rebuild TensorFlow",
)
# The CUDA stub's failure to find a driver: noise only where there is no GPU to find.
NO_GPU_NOISE = (r"failed call to cuInit: .*UNKNOWN ERROR \(303\)",)

_installed: list[subprocess.Popen] = []


def has_nvidia_device() -> bool:
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia")


def noise_patterns(gpu_host: bool) -> tuple[str, ...]:
    return ALWAYS_NOISE if gpu_host else ALWAYS_NOISE + NO_GPU_NOISE


def filter_stderr(gpu_host: bool | None = None) -> bool:
    """Route this process's stderr (fd 2) through a filter of TensorFlow's start-up lines.

    Call before TensorFlow is imported; a second call does nothing. Returns whether a filter is
    in place (not with `-v`, nor where `grep` is missing: then stderr is left as it was).
    """
    if _installed or os.environ.get(KEEP_ALL_ENV):
        return bool(_installed)
    grep = shutil.which("grep")
    if grep is None:
        return False
    patterns = noise_patterns(has_nvidia_device() if gpu_host is None else gpu_host)
    argv = [grep, "--line-buffered", "-v", "-E", *(arg for p in patterns for arg in ("-e", p))]
    # The filter writes to where stderr went, reads what this process writes from now on; it exits
    # at the end of input, which comes when this process (and so every copy of the pipe) is gone.
    target = os.dup(2)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=target, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        os.close(target)
    os.dup2(proc.stdin.fileno(), 2)
    proc.stdin.close()
    _installed.append(proc)
    return True


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and Keras and let it find its devices, without its start-up lines on stderr.

    For a command's own process (`export --model`, `launch --weights FILE`), where a pipe through
    grep would take the terminal from progress bars: fd 2 goes to a temporary file while TensorFlow
    starts, and every line of it that is not start-up noise is written back afterwards, so a real
    error still shows. Once started, TensorFlow does not print those lines again. Nothing with `-v`.
    """
    import re
    import sys
    import tempfile

    if "tensorflow" in sys.modules or os.environ.get(KEEP_ALL_ENV):
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import importlib

            import tensorflow as tf

            importlib.import_module("keras")  # its own start-up lines too

            tf.config.list_physical_devices()  # the CUDA stub's cuInit happens here
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            noise = re.compile("|".join(noise_patterns(has_nvidia_device())))
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not noise.search(line):
                    os.write(2, line.encode())
