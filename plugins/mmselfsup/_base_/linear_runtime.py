# Runtime of the linear-evaluation configs: mmcls's registries (run them with `mim train mmcls`),
# and `mmselfsup_nda` imported (FeatureBatchNorm and the checkpoint-loading workaround).
default_scope = "mmcls"
custom_imports = dict(imports=["mmselfsup_nda"], allow_failed_imports=False)
log_level = "INFO"
load_from = None
resume = False
