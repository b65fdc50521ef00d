"""``scripts/demo`` ends by saying how to use what it installed: its .venv is not on the user's PATH afterwards."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_ends_with_how_to_run_kernbench_from_its_venv():
    script = (ROOT / "scripts" / "demo").read_text()
    ending = script[script.rindex("cat <<DONE") :]
    # the closing message as bash prints it, with ROOT set as scripts/_venv.sh sets it
    out = subprocess.run(["bash", "-c", f"ROOT=/checkout\n{ending}"], capture_output=True, text=True, check=True).stdout
    assert "source /checkout/.venv/bin/activate" in out
    assert "/checkout/.venv/bin/kernbench run --bench qkv_gemm" in out
    assert script.rstrip().endswith("DONE")  # the last thing the demo does
