"""Ready-made framework config files (mmselfsup configs, StudioGAN YAML, DPC configs)."""
