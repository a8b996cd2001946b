import numpy as np
from numpy.testing import assert_array_equal

from realtime.stages.democlip import DemoClipOptions, head_motion, render_demo_frame


def test_frames_are_deterministic_and_sized():
    options = DemoClipOptions()
    first = render_demo_frame(42, options)
    again = render_demo_frame(42, options)
    assert first.shape == (options.height, options.width, 3) and first.dtype == np.uint8
    assert_array_equal(first, again)


def test_clip_is_about_ten_seconds_at_30_fps():
    options = DemoClipOptions()
    assert options.fps == 30.0
    assert 270 <= options.frame_count <= 330


def test_motion_covers_roll_scale_translation_and_tilt():
    samples = [head_motion(t / 30.0) for t in range(300)]
    for key, minimum in [("roll", np.radians(8)), ("scale", 0.08), ("tx", 0.04), ("ty", 0.03),
                         ("yaw_tilt", 0.15), ("pitch_tilt", 0.08)]:
        values = np.array([s[key] for s in samples])
        assert values.max() - values.min() > minimum, key


def test_still_clip_differs_only_by_sensor_noise():
    options = DemoClipOptions(motion=False, noise_sigma=2.0)
    a = render_demo_frame(0, options).astype(np.int16)
    b = render_demo_frame(1, options).astype(np.int16)
    difference = np.abs(a - b)
    assert 0.5 < difference.mean() < 4.0  # noise, not motion
    assert np.percentile(difference, 99.9) < 20
