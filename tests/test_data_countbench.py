"""The local CountBench reader: JSON / JSON lines, the image-file naming order, missing images
counted and reported (or an error), bad rows an error (or counted), and the downloader with a
fake HTTP GET (dead URLs and error pages counted)."""

import json
import os

import numpy as np
import pytest

from jclip.data import countbench
from tests.helpers.files import counting_scene_png, write_countbench


def test_scan_reads_rows_images_and_reports(tmp_path):
    root = write_countbench(tmp_path, missing=(1, 6))
    bench = countbench.scan(root)
    assert len(bench) == 6 and bench.total_rows == 8
    assert bench.missing == (1, 6) and bench.indices == (0, 2, 3, 4, 5, 7)
    report = bench.report()
    assert report["missing_images"] == 2 and report["images_found"] == 6
    assert report["per_count"] == {"2": 1, "3": 2, "4": 2, "5": 1}
    example = bench.load(1)  # row 2: count 3
    assert example["label"] == 3 and example["image"].shape == (32, 32, 3)
    assert example["captions"] == ["there are three blue triangles"]
    with pytest.raises(FileNotFoundError, match="row 1's image .* is missing"):
        countbench.scan(root, on_missing="error")


def test_bad_rows_raise_by_default_and_are_counted_on_request(tmp_path):
    bad = {0: {"image_url": "u", "text": "two cats", "number": 11},
           3: {"image_url": "u", "text": "", "number": 3},
           5: {"image_url": "u", "text": "x", "number": "many"},
           6: ["not", "an", "object"]}
    root = write_countbench(tmp_path, bad_rows=bad)
    with pytest.raises(ValueError, match=r"row 0 .*number 11 outside 2\.\.10"):
        countbench.scan(root)
    bench = countbench.scan(root, on_bad_row="skip")
    assert [i for i, _ in bench.bad_rows] == [0, 3, 5, 6] and len(bench) == 4
    reasons = dict(bench.bad_rows)
    assert "empty" in reasons[3] and "not an int" in reasons[5] and "not an object" in reasons[6]


def test_image_file_order_column_then_index_then_url(tmp_path):
    folder = str(tmp_path)
    row = {"image_url": "https://x.invalid/a/b%20c.jpg?w=3", "file_name": "mine.png"}
    assert countbench.image_file(row, 3, folder) == os.path.join(folder, "mine.png")
    del row["file_name"]
    assert countbench.image_file(row, 3, folder) == os.path.join(folder, "b_c.jpg")
    (tmp_path / "0003.jpeg").write_bytes(b"x")
    assert countbench.image_file(row, 3, folder) == os.path.join(folder, "0003.jpeg")


def test_json_lines_and_a_data_key_are_read(tmp_path):
    rows = [{"image_url": "u", "text": "two dogs", "number": 2}] * 2
    (tmp_path / "countbench.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert countbench.read_rows(str(tmp_path / "countbench.jsonl")) == rows
    (tmp_path / "wrapped.json").write_text(json.dumps({"data": rows}))
    assert countbench.read_rows(str(tmp_path / "wrapped.json")) == rows


def test_download_names_files_by_row_and_counts_failures(tmp_path):
    rows = [{"image_url": f"https://x.invalid/{i}.png", "text": "two dogs", "number": 2}
            for i in range(4)] + [{"text": "two dogs", "number": 2}]
    (tmp_path / "CountBench.json").write_text(json.dumps(rows))

    def fetch(url, timeout):
        if url.endswith("1.png"):
            raise OSError("HTTP Error 404: Not Found")
        if url.endswith("2.png"):
            return b"<html>moved</html>"
        return counting_scene_png(2)

    out = countbench.download(str(tmp_path), fetch=fetch)
    assert out["downloaded"] == 2 and out["present"] == 0
    assert [i for i, _ in out["failed"]] == [1, 2, 4]
    assert sorted(os.listdir(tmp_path / "images")) == ["0000.png", "0003.png"]
    again = countbench.download(str(tmp_path), fetch=fetch)
    assert again["present"] == 2 and again["downloaded"] == 0
    bench = countbench.scan(str(tmp_path), on_bad_row="skip")
    assert bench.indices == (0, 3) and bench.missing == (1, 2)
    assert np.all(bench.load(0)["image"].shape == (32, 32, 3))
