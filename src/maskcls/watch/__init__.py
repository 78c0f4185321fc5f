"""The entrance gate: frames from a video, a folder or a camera, faces tracked across frames (ByteTrack), one
smoothed, calibrated decision per person (pass / warn / stop / uncertain), and an event log.

Rooms: :mod:`.config` (the typed ``WatchConfig``), :mod:`.sources` (frames), :mod:`.decide` (smoothing and the
decision rule), :mod:`.tracking` (ByteTrack and the per-person state), :mod:`.pipeline` (detect → track → classify
per frame), :mod:`.events` (JSONL + CSV log, per-minute counters, thumbnails), :mod:`.annotate` (boxes and labels in
Korean and English, the annotated video).
"""
