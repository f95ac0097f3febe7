# Runtime of the mmpretrain configs: mmpretrain's registries, and `mmselfsup_nda` imported (NDAMoCo,
# NDAContrastiveHead, NDAView, and the upstream workarounds the installed versions need). Logging
# and checkpoint intervals belong to the schedules; the rest is mmengine's default.
default_scope = "mmpretrain"
custom_imports = dict(imports=["mmselfsup_nda"], allow_failed_imports=False)
log_level = "INFO"
load_from = None
resume = False
