"""``selfie3d video`` (realtime/apps/video.py): a phone video of a head turn becomes one printable
bust, the live window's ``S`` facing the camera with the head scan the turn gave; the frame the
single view comes from is the most frontal of the last identity; the output is named and refused
before the video is read."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import trimesh

from realtime.apps.cli import main
from realtime.apps.video import VideoOptions, keep_bust_frame, output_path
from realtime.errors import InputError
from realtime.printing.bust import BustOptions


def test_a_head_turn_video_gives_a_scanned_bust_with_the_photo_s_options(tmp_path, head_turn_video, capsys):
    video, _ = head_turn_video
    out, report = tmp_path / "ana.3mf", tmp_path / "report.json"
    code = main(["video", video, "-o", str(out), "--style", "head", "--label", "ANA", "--report", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{video}: {out}" in printed and "head scan: " in printed and "used for the bust" in printed
    facts = json.loads(report.read_text())
    assert facts["bust"]["scan"]["used"] and facts["bust"]["frame_turn_deg"] < 5.0 and facts["style"] == "head"
    assert not facts["bust"]["replayed"]  # scanned enough in one play
    assert facts["frames"] == 230 and facts["tracked_fraction"] > 0.95 and 55 < facts["pd_mm"] < 75
    mesh = trimesh.load(str(out), force="mesh")
    assert mesh.is_watertight and mesh.extents[2] == pytest.approx(80.0, abs=0.5)
    # An existing output is refused before the video is read (no --overwrite).
    assert main(["video", video, "-o", str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_a_short_video_whose_turn_comes_first_is_played_again_to_scan_it(tmp_path, gl_ctx):
    # A 4 s video that turns from its first half second: the scan waits ~3 s for fusion's identity
    # to settle, so the first play scans too little (34-41% measured); the second play scans it all.
    from realtime.apps.video import run_video
    from realtime.tools.scan_accuracy import ScanSweepOptions, write_sweep_video

    video = tmp_path / "short.mp4"
    write_sweep_video(video, ScanSweepOptions(settle_frames=10, sweep_frames=110), ctx=gl_ctx)
    said = []
    report = run_video(VideoOptions(path=str(video), out=str(tmp_path / "short.stl")), progress=said.append)
    scan = report["bust"]["scan"]
    assert said[0] == "reading frame 1 of 120" and "scanning again, frame 120 of 120" in said
    assert said[-1] == "building the bust"
    assert report["frames"] == 120 and report["bust"]["replayed"]  # the first play's scan was not ready
    # The second play scanned (one frame in five of the 120, those turned past 50 deg left out) alone.
    assert scan["used"] and 15 <= scan["frames"] <= 24, scan
    assert report["bust"]["frame_turn_deg"] < 5.0


def test_a_deadline_stops_the_reading_and_the_second_play(head_turn_video):
    # A server's bound on one job: past it the bust is made from the frames read so far.
    from realtime.apps.video import VideoBust, gather_video
    from realtime.stages.capture import CaptureOptions
    from realtime.stages.pipeline import PipelineOptions

    video, _ = head_turn_video
    with VideoBust(scan=True) as gathered:
        frames, _ = gather_video(gathered, CaptureOptions(path=video), PipelineOptions(), deadline_s=0.0)
        assert frames == 1 and not gathered.replayed


def test_a_video_without_a_face_is_one_clear_error(tmp_path, capsys):
    path = tmp_path / "wall.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (160, 120))
    for _ in range(5):
        writer.write(np.full((120, 160, 3), 128, np.uint8))
    writer.release()
    assert main(["video", str(path), "-o", str(tmp_path / "out")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "no face found in any of its 5 frames" in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_the_output_is_named_and_checked_as_the_photo_command_s_before_the_video_is_read(tmp_path, monkeypatch):
    def where(out, path="clips/turn.mov", report=None, **bust):
        return output_path(VideoOptions(path=path, out=out, report=report, bust=BustOptions(**bust)))

    assert where(str(tmp_path / "me.glb")) == tmp_path / "me.glb"
    assert where(str(tmp_path / "busts")) == tmp_path / "busts" / "turn.stl"
    assert where(str(tmp_path / "busts"), format="3mf") == tmp_path / "busts" / "turn.3mf"
    assert where(str(tmp_path / "shelf.v2") + "/") == tmp_path / "shelf.v2" / "turn.stl"  # a slash: a folder
    with pytest.raises(InputError, match=r"has the extension \.stl but --format is obj"):
        where(str(tmp_path / "me.stl"), format="obj")
    with pytest.raises(InputError, match=r"unknown output format \.ply"):
        where(str(tmp_path / "me.ply"))
    (tmp_path / "made.stl").write_bytes(b"made earlier")
    with pytest.raises(InputError, match="made.stl already exists; pass --overwrite"):
        where(str(tmp_path / "made.stl"))
    assert where(str(tmp_path / "made.stl"), overwrite=True) == tmp_path / "made.stl"
    # The report may replace neither the bust nor the video.
    video = tmp_path / "turn.mp4"
    video.write_bytes(b"a video")
    with pytest.raises(InputError, match="is also the name of an output file"):
        where(str(tmp_path / "me.stl"), path=str(video), report=str(tmp_path / "me.stl"))
    with pytest.raises(InputError, match="would replace the input photo"):
        where(str(tmp_path / "out"), path=str(video), report=str(video))
    # A folder of frames given as "." is named after the folder.
    frames = tmp_path / "holiday"
    frames.mkdir()
    monkeypatch.chdir(frames)
    assert where(str(tmp_path / "busts"), path=".") == tmp_path / "busts" / "holiday.stl"


def test_the_bust_s_frame_is_the_most_frontal_of_the_identity_it_is_made_of():
    # After fusion starts a new identity (someone else), a frame of the person before is not kept.
    from realtime.tools.synthetic_face import head_rotation

    def result(index: int, yaw_deg: float, reset: bool = False):
        fusion = SimpleNamespace(raw_rotation=head_rotation(yaw_deg), raw_translation_mm=np.array([0.0, 0.0, 500.0]),
                                 identity_reset=reset)
        return SimpleNamespace(fusion=fusion, frame=SimpleNamespace(image=index, index=index),
                               faces=[SimpleNamespace(vertices=index)])

    last = {}
    for index, yaw, reset in [(0, 20.0, True), (1, 2.0, False), (2, 30.0, False), (3, 25.0, True), (4, 12.0, False),
                              (5, 18.0, False)]:
        keep_bust_frame(last, result(index, yaw, reset))
        if index == 2:
            assert last["frame_index"] == 1 and last["turn_deg"] == pytest.approx(2.0, abs=0.5)
    assert last["frame_index"] == 4 and last["vertices_px"] == 4 and last["turn_deg"] == pytest.approx(12.0, abs=0.5)
