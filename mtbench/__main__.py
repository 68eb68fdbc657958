"""``python -m mtbench`` (also what ``torchrun -m mtbench`` launches)."""

from mtbench.cli import main

main()
