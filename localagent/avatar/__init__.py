"""The avatar stage: Tavus with the local avatar on standby (`stage.py`), and the video that
leaves for the browser (`video_out.py`, `video_encoder.py`)."""
