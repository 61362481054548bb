"""perturb_lib."""
