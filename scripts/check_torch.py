"""Check the torch that ``make setup`` installed: the pinned version, and the build that was asked for.

    python scripts/check_torch.py --build default|cpu [--constraints constraints.txt]

The Makefile runs it with the venv's Python after ``pip install``. ``--build default`` accepts any build
of the pinned version (CPU, CUDA or ROCm; a CUDA build runs on a machine without a GPU, and a note says
so and how to get the much smaller CPU-only build); ``--build cpu`` requires the CPU-only build. On
success it prints one line about the build (and a note where another build suits the machine better)
and exits 0; otherwise it exits 1 with a message naming the problem and the command that fixes it.

Standard library only (besides the torch it checks), so it also runs under the Python that made the
venv; :func:`check` is pure, for the tests.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

BUILDS = ("default", "cpu")
"""The ``TORCH=`` choices of the Makefile (``--build`` here)."""

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
"""PyTorch's official index of CPU-only wheels (what ``make setup TORCH=cpu`` installs from)."""

FIX_CPU = "make clean && make setup TORCH=cpu"
FIX_DEFAULT = "make clean && make setup"


class SetupError(Exception):
    """The installed torch is not what the set-up asked for (the message says what to run)."""


@dataclass(frozen=True)
class TorchBuild:
    """What one torch installation is.

    Attributes:
        version: ``torch.__version__``, e.g. ``"2.13.0+cpu"`` or ``"2.13.0"``.
        cuda: ``torch.version.cuda`` (``None`` for CPU and ROCm builds).
        hip: ``torch.version.hip`` (``None`` except for ROCm builds).
        gpu: name of the first GPU torch can use, ``None`` if it sees none.
    """

    version: str
    cuda: str | None = None
    hip: str | None = None
    gpu: str | None = None

    @property
    def kind(self) -> str:
        """``"cuda"``, ``"rocm"`` or ``"cpu"``."""
        if self.cuda:
            return "cuda"
        if self.hip:
            return "rocm"
        return "cpu"

    @property
    def release(self) -> str:
        """The version without its local label (``"2.13.0+cpu"`` -> ``"2.13.0"``)."""
        return self.version.partition("+")[0]

    def describe(self) -> str:
        """E.g. ``"torch 2.13.0 (CUDA 12.8 build)"``."""
        what = {"cuda": f"CUDA {self.cuda} build", "rocm": f"ROCm {self.hip} build", "cpu": "CPU-only build"}
        return f"torch {self.version} ({what[self.kind]})"


def pinned_version(constraints: str) -> str | None:
    """The exact version ``constraints`` (the text of ``constraints.txt``) pins torch to, if any.

    Raises:
        SetupError: torch is constrained, but not to one exact version (``torch==X.Y.Z``).
    """
    for raw in constraints.splitlines():
        line = raw.split("#", 1)[0].strip()
        name = re.match(r"[A-Za-z0-9._-]+", line)
        if name is None or name.group(0).lower() != "torch":
            continue
        exact = re.fullmatch(r"torch\s*==\s*([0-9][0-9A-Za-z.]*)", line, flags=re.IGNORECASE)
        if exact is None:
            raise SetupError(f"constraints.txt must pin torch to one release, as torch==2.13.0; it has {line!r}")
        return exact.group(1)
    return None


def check(build: TorchBuild, wanted: str, pinned: str | None, nvidia_driver: bool = False) -> str:
    """Whether ``build`` is what ``make setup TORCH=<wanted>`` should have installed.

    Args:
        build: the installed torch.
        wanted: one of :data:`BUILDS`.
        pinned: the release ``constraints.txt`` pins (``None``: any).
        nvidia_driver: an NVIDIA driver is installed (``nvidia-smi`` is on ``PATH``).

    Returns:
        A report to print: one line about the build, plus a note where another build suits the machine.

    Raises:
        SetupError: ``wanted`` is not a valid choice, the release is not the pinned one, or ``wanted`` is
            ``"cpu"`` and the build is not the CPU-only one.
    """
    if wanted not in BUILDS:
        raise SetupError(f"unknown torch build {wanted!r}; valid: {', '.join(BUILDS)} (make setup TORCH=cpu)")
    if pinned is not None and build.release != pinned:
        raise SetupError(
            f"{build.describe()} is installed, but constraints.txt pins torch=={pinned} (something installed "
            f"torch without -c constraints.txt); reinstall with: {FIX_CPU if wanted == 'cpu' else FIX_DEFAULT}"
        )
    report = f"ok: {build.describe()}"
    if wanted == "cpu":
        if build.kind != "cpu":
            raise SetupError(
                f"TORCH=cpu asked for the CPU-only build, but {build.describe()} is installed; "
                f"reinstall from {CPU_INDEX} with: {FIX_CPU}"
            )
        return report
    if build.kind == "cpu":
        if nvidia_driver:
            report += (
                "\nnote: this machine has an NVIDIA driver, but this torch cannot use a GPU; for the CUDA build, "
                "install from PyPI's default index (no CPU-only index or wheel folder in the pip configuration): "
                + FIX_DEFAULT
            )
        return report
    if build.gpu is not None:
        return report + f", using GPU {build.gpu}"
    return (
        report + ", no GPU visible"
        "\nnote: this build runs fine on the CPU; the CPU-only build is a fraction of its size (no CUDA "
        f"libraries): {FIX_CPU}"
    )


def installed_build() -> TorchBuild:
    """Import torch, run one small tensor operation on the CPU and describe the build.

    Raises:
        SetupError: torch does not import, or its CPU operation fails.
    """
    try:
        import torch
    except (ImportError, OSError) as exc:
        raise SetupError(f"torch does not import ({exc}); reinstall with: {FIX_DEFAULT}") from exc
    try:
        product = float((torch.ones(2, 3) @ torch.ones(3, 2)).sum())
    except RuntimeError as exc:
        raise SetupError(f"torch {torch.__version__} imports, but a CPU tensor operation fails: {exc}") from exc
    if product != 12.0:
        raise SetupError(f"torch {torch.__version__} computes a wrong matrix product ({product}, expected 12)")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return TorchBuild(str(torch.__version__), torch.version.cuda, getattr(torch.version, "hip", None), gpu)


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(description="Check the installed torch against the set-up's choice.")
    parser.add_argument("--build", default="default", help=f"the build asked for: {' or '.join(BUILDS)}")
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"), help="the pip constraints file")
    args = parser.parse_args(argv)
    try:
        if not args.constraints.is_file():
            raise SetupError(f"no constraints file {args.constraints} (run from the repository root)")
        pinned = pinned_version(args.constraints.read_text())
        report = check(installed_build(), args.build, pinned, nvidia_driver=shutil.which("nvidia-smi") is not None)
    except SetupError as exc:
        print(f"check_torch: {exc}", file=sys.stderr)
        return 1
    print(f"check_torch: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
