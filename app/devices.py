"""Finding the compute devices (in a worker: importing torch takes seconds)."""

from __future__ import annotations


def probe_devices() -> list[tuple[str, str]]:
    """``[("auto", ...), ("cpu", ...), ("cuda:0", ...)]``: ids the engine accepts, and names."""
    import torch

    from pn2v_engine import describe_device, select_device

    best = select_device("auto")
    devices = [("auto", f"Automatic: {describe_device(best)}")]
    devices.append(("cpu", describe_device(torch.device("cpu"))))
    for index in range(torch.cuda.device_count()):
        devices.append((f"cuda:{index}", describe_device(torch.device("cuda", index))))
    if best.type == "mps":
        devices.append(("mps", describe_device(best)))
    _warm_up_engine()
    return devices


def _warm_up_engine() -> None:
    """Import the engine's heavy modules now, while the app is idle.

    An import holds the interpreter (and its import lock) in long stretches; done
    for the first time when training starts, it froze the window for ~150 ms. The
    largest is torch's compiler front end, which some torch functions used in
    training (``torch.unique``) import on their first call.
    """
    import torch._dynamo

    from pn2v_engine import iter_denoise_file, iter_train, load_project, save_project

    del torch, iter_denoise_file, iter_train, load_project, save_project


def torch_build() -> str:
    """Which PyTorch this is: ``"PyTorch 2.13.0+cpu, CPU-only build"`` or its CUDA version."""
    import torch

    cuda = torch.version.cuda
    kind = f"CUDA {cuda} build" if cuda else "CPU-only build"
    return f"PyTorch {torch.__version__}, {kind}"
