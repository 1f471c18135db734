"""Windowing values and the axial display orientation."""

from __future__ import annotations

import numpy as np
import pytest

from lesiontrials.slicing.windowing import (
    LUNG_WINDOW,
    apply_window,
    axial_display,
    display_to_voxel,
    encode,
    lung_grey,
    medgemma_rgb,
)


def test_lung_window_is_centre_minus_600_width_1500():
    assert (LUNG_WINDOW.low_hu, LUNG_WINDOW.high_hu) == (-1350.0, 150.0)
    values = lung_grey(np.array([-2000, -1350, -600, 150, 3000]))
    assert values.tolist() == [0, 0, 128, 255, 255]  # −600 → 127.5 → rounds to 128
    assert values.dtype == np.uint8


@pytest.mark.parametrize(("channel", "low", "high"),
                         [(0, -1024, 1024), (1, -135, 215), (2, 0, 80)])
def test_medgemma_channels(channel, low, high):
    hu = np.array([low - 50, low, (low + high) / 2, high, high + 50], dtype=float)
    rgb = medgemma_rgb(hu)
    assert rgb.shape == (5, 3)
    assert rgb[:, channel].tolist() == [0, 0, 128, 255, 255]


def test_window_is_linear_between_the_edges():
    hu = np.linspace(-1350, 150, 1501)
    grey = apply_window(hu, LUNG_WINDOW).astype(float)
    assert np.all(np.diff(grey) >= 0)
    assert np.max(np.abs(grey - (hu + 1350) / 1500 * 255)) <= 0.5


def test_axial_display_puts_anterior_up_and_patient_right_on_the_left():
    plane = np.zeros((5, 4))  # (x, y); x grows toward patient right, y toward anterior
    plane[4, 1] = 1.0  # right-most column of the patient, posterior-ish
    plane[0, 3] = 2.0  # patient left, most anterior
    image = axial_display(plane)
    assert image.shape == (4, 5)  # rows = y, columns = x
    assert image[2, 0] == 1.0  # patient right → image column 0 (left)
    assert image[0, 4] == 2.0  # anterior → top row; patient left → right-most column
    for row, col in [(2, 0), (0, 4)]:
        x, y = display_to_voxel(row, col, shape_xy=(5, 4))
        assert image[row, col] == plane[int(x), int(y)]


def test_encode_rejects_unknown_profiles():
    assert encode(np.zeros((2, 2)), profile="lung").shape == (2, 2)
    assert encode(np.zeros((2, 2)), profile="medgemma_rgb").shape == (2, 2, 3)
    with pytest.raises(ValueError, match="profile"):
        encode(np.zeros((2, 2)), profile="bone")
