import json
import math

import numpy as np
import pandas as pd
import pytest

from lesiontrials.errors import InputError
from lesiontrials.io import (
    atomic_open,
    read_csv_table,
    read_json,
    read_parquet,
    write_json,
    write_parquet,
)


def test_parquet_round_trip_is_byte_stable(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, math.nan]})
    first = write_parquet(frame, tmp_path / "t1.parquet").read_bytes()
    second = write_parquet(frame, tmp_path / "t2.parquet").read_bytes()
    assert first == second
    pd.testing.assert_frame_equal(read_parquet(tmp_path / "t1.parquet"), frame)


def test_json_is_sorted_and_nan_becomes_null(tmp_path):
    write_json({"b": np.float64("nan"), "a": np.int64(3), "c": [np.float32(1.5)]},
               tmp_path / "x.json")
    text = (tmp_path / "x.json").read_text()
    assert text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": 3, "b": None, "c": [1.5]}
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InputError, match="bad.json"):
        read_json(tmp_path / "bad.json")


def test_atomic_open_leaves_previous_file_when_writer_fails(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_csv_errors_name_the_file(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match=r"empty\.csv: the CSV file is empty"):
        read_csv_table(tmp_path / "empty.csv")
