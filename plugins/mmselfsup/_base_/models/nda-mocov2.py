# The NDA model block: the one change that turns a MoCo-v2 config into NDA-MoCo-v2 (plugins/mmpretrain
# has the same block). For every query, an NDA of its own query image and one of its own key
# image (jigsaw with k=2, the paper's best, unless a config names another) are extra negatives
# beside the queue, encoded by the momentum encoder and never enqueued. Configs use it as
#   model = dict(_base_.nda_model, nda=dict(type='cutmix'))
# (mmselfsup_nda must be imported: the runtime configs list it in custom_imports).
nda_model = dict(
    type="NDAMoCo",
    nda=dict(type="jigsaw", k=2),
    nda_encoder="key",
    num_nda_views=2,
    head=dict(type="NDAContrastiveHead"),
)
