"""video_dpc: NDA for Dense Predictive Coding on video (adapter to be filled by its own issue).

Needs PyAV for decoding: ``pip install 'nda-plugins[video]'``.
"""
