"""kernbench: the accelerator model on top of the pdes engine (see DESIGN.md)."""
