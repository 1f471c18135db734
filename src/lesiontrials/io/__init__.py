"""All file I/O: volumes, tables, JSON, atomic writes. Nothing else opens files."""

from lesiontrials.io.atomic import (
    TEMP_GLOB,
    atomic_open,
    atomic_path,
    remove_temp_files,
    sha256_file,
    write_bytes_atomic,
    write_text_atomic,
)
from lesiontrials.io.images import decode_png, encode_png, read_png, write_png
from lesiontrials.io.tables import (
    read_csv_table,
    read_json,
    read_parquet,
    read_parquet_metadata,
    to_json_text,
    write_csv,
    write_json,
    write_parquet,
)
from lesiontrials.io.volumes import (
    Volume,
    VolumeKind,
    check_same_grid,
    read_volume,
    read_volume_header,
    spacing_from_affine,
    to_canonical,
    write_volume,
)

__all__ = [
    "TEMP_GLOB",
    "Volume",
    "VolumeKind",
    "atomic_open",
    "atomic_path",
    "check_same_grid",
    "decode_png",
    "encode_png",
    "read_csv_table",
    "read_json",
    "read_parquet",
    "read_parquet_metadata",
    "read_png",
    "read_volume",
    "read_volume_header",
    "remove_temp_files",
    "sha256_file",
    "spacing_from_affine",
    "to_canonical",
    "to_json_text",
    "write_bytes_atomic",
    "write_csv",
    "write_json",
    "write_parquet",
    "write_png",
    "write_text_atomic",
    "write_volume",
]
