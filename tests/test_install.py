"""The set-up logic: the torch-build check the Makefile runs, and what ``make setup`` would run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = (ROOT / "constraints.txt").read_text().split("torch==", 1)[1].split()[0]


def load_check_torch():
    spec = importlib.util.spec_from_file_location("check_torch", ROOT / "scripts" / "check_torch.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


ct = load_check_torch()

CPU = ct.TorchBuild(f"{PIN}+cpu")
CPU_PLAIN = ct.TorchBuild(PIN)  # e.g. PyPI's aarch64 wheel: no local label, no CUDA
CUDA_NO_GPU = ct.TorchBuild(PIN, cuda="12.8")
CUDA_GPU = ct.TorchBuild(PIN, cuda="12.8", gpu="NVIDIA H200")
CUDA_LABELLED = ct.TorchBuild(f"{PIN}+cu126", cuda="12.6")
ROCM = ct.TorchBuild(f"{PIN}+rocm6.4", hip="6.4.0")


@pytest.mark.parametrize("build", [CPU, CPU_PLAIN, CUDA_NO_GPU, CUDA_GPU, CUDA_LABELLED, ROCM])
def test_default_accepts_every_build_of_the_pinned_release(build):
    report = ct.check(build, "default", PIN)
    assert report.startswith(f"ok: torch {build.version}")


def test_cuda_build_without_gpu_is_accepted_with_a_note_naming_the_cpu_build():
    report = ct.check(CUDA_NO_GPU, "default", PIN)
    assert "CUDA 12.8 build" in report and "no GPU visible" in report
    assert "note:" in report and "runs fine on the CPU" in report and "make setup TORCH=cpu" in report


def test_cuda_build_with_gpu_names_the_gpu_and_has_no_note():
    report = ct.check(CUDA_GPU, "default", PIN)
    assert "using GPU NVIDIA H200" in report and "note" not in report


@pytest.mark.parametrize("driver", [False, True])
def test_cpu_build_notes_a_gpu_driver_only_when_there_is_one(driver):
    report = ct.check(CPU, "default", PIN, nvidia_driver=driver)
    assert report.startswith("ok:") and "CPU-only build" in report
    assert ("NVIDIA driver" in report) is driver


@pytest.mark.parametrize("build", [CPU, CPU_PLAIN])
def test_cpu_choice_accepts_cpu_builds(build):
    assert ct.check(build, "cpu", PIN, nvidia_driver=True) == f"ok: {build.describe()}"


@pytest.mark.parametrize("build", [CUDA_NO_GPU, CUDA_GPU, ROCM])
def test_cpu_choice_rejects_gpu_builds_naming_the_index_and_the_fix(build):
    with pytest.raises(ct.SetupError, match="TORCH=cpu asked for the CPU-only build") as err:
        ct.check(build, "cpu", PIN)
    assert ct.CPU_INDEX in str(err.value) and "make clean && make setup TORCH=cpu" in str(err.value)


@pytest.mark.parametrize("wanted", ["default", "cpu"])
def test_other_release_than_the_pin_is_rejected(wanted):
    with pytest.raises(ct.SetupError, match=rf"pins torch=={PIN}.*-c constraints.txt") as err:
        ct.check(ct.TorchBuild("2.99.0+cpu"), wanted, PIN)
    assert "torch 2.99.0+cpu" in str(err.value) and "make clean && make setup" in str(err.value)


def test_unknown_choice_lists_the_valid_ones():
    with pytest.raises(ct.SetupError, match=r"unknown torch build 'cuda'; valid: default, cpu"):
        ct.check(CUDA_GPU, "cuda", PIN)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("torch==2.13.0\n", "2.13.0"),
        ("# pins\nnumpy<3\nTorch == 2.13.1  # the CPU build here\n", "2.13.1"),
        ("numpy<3\ntorchvision==0.28.0\n", None),
        ("", None),
    ],
)
def test_pinned_version(text, expected):
    assert ct.pinned_version(text) == expected


def test_pinned_version_requires_one_exact_release():
    with pytest.raises(ct.SetupError, match=r"pin torch to one release, as torch==2.13.0; it has 'torch>=2.8'"):
        ct.pinned_version("torch>=2.8\n")


def test_the_repository_pins_one_torch_release():
    assert ct.pinned_version((ROOT / "constraints.txt").read_text()) == PIN


def test_the_installed_torch_passes_the_check():
    """The script end to end on the torch of this environment (whichever build it is)."""
    result = subprocess.run(
        [sys.executable, "scripts/check_torch.py", "--build", "default"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"check_torch: ok: torch {PIN}")


def test_script_errors_go_to_stderr_with_status_1(tmp_path):
    (tmp_path / "constraints.txt").write_text("torch>=2.8\n")
    argv = [sys.executable, str(ROOT / "scripts" / "check_torch.py"), "--build", "default"]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("check_torch: constraints.txt must pin torch to one release")
    missing = subprocess.run([*argv, "--constraints", "nowhere.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 1 and "no constraints file nowhere.txt" in missing.stderr


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def dry_run(*args):
    """``make -n -B setup ARGS`` in the repository: what it would run, nothing run.

    Run as a top-level make (``make test`` runs the tests inside make, whose ``MAKEFLAGS`` and
    ``MAKELEVEL`` would pass its variables on and add "Entering directory" lines), with the set-up's
    variables only from ``ARGS``.
    """
    inherited = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PY", "TORCH", "TORCH_CPU_INDEX"}
    env = {key: value for key, value in os.environ.items() if key not in inherited}
    argv = ["make", "--no-print-directory", "-n", "-B", "setup", *args]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)


@needs_make
def test_make_setup_default_installs_with_the_constraints_and_checks_the_default_build():
    result = dry_run("TORCH=default")
    assert result.returncode == 0, result.stderr
    assert "--index-url" not in result.stdout
    assert "pip install -q -c constraints.txt -e '.[dev,tune]'" in result.stdout
    assert "scripts/check_torch.py --build default --constraints constraints.txt" in result.stdout
    assert result.stdout.rstrip().endswith("touch .venv/.installed")


@needs_make
def test_make_setup_cpu_installs_the_cpu_wheel_from_pytorchs_index_first():
    lines = dry_run("TORCH=cpu").stdout.splitlines()
    cpu = next(i for i, line in enumerate(lines) if "--index-url" in line)
    assert lines[cpu].endswith(f"pip install -q --index-url https://download.pytorch.org/whl/cpu 'torch=={PIN}+cpu'")
    project = next(i for i, line in enumerate(lines) if "-e '.[dev,tune]'" in line)
    check = next(i for i, line in enumerate(lines) if "check_torch.py" in line)
    assert cpu < project < check and "--build cpu" in lines[check]
    assert lines[-1] == "touch .venv/.installed-cpu"  # switching builds re-runs the set-up


@needs_make
def test_make_setup_cpu_index_can_be_a_mirror():
    result = dry_run("TORCH=cpu", "TORCH_CPU_INDEX=https://mirror.example/whl/cpu")
    assert f"--index-url https://mirror.example/whl/cpu 'torch=={PIN}+cpu'" in result.stdout


@needs_make
def test_make_rejects_an_unknown_torch_choice_naming_the_valid_ones():
    result = dry_run("TORCH=cuda")
    assert result.returncode != 0 and result.stdout == ""
    assert "TORCH=cuda is not a torch build this Makefile installs; valid: TORCH=default" in result.stderr
    assert "TORCH=cpu (the CPU-only build from https://download.pytorch.org/whl/cpu)" in result.stderr


@needs_make
def test_make_checks_the_python_version_before_creating_the_venv():
    """The version guard is the first command; run on its own it passes here (Python >= 3.10)."""
    first = dry_run(f"PY={sys.executable}").stdout.splitlines()[0]
    guard = first.split("|| { ", 1)[1].rsplit(" && ", 1)[0]
    assert guard.startswith(f"{sys.executable} -c ")
    assert subprocess.run(guard, shell=True, cwd=ROOT).returncode == 0
    old = subprocess.run(guard.replace("(3, 10)", "(99, 0)"), shell=True, cwd=ROOT, capture_output=True, text=True)
    assert old.returncode == 1 and "caasl needs Python >= 3.10, but PY=" in old.stderr
