"""One way to show a number of bytes: decimal units, one decimal below ten of a unit."""

import pytest

from engine.byte_sizes import format_bytes


@pytest.mark.parametrize(("count", "text"), [
    (0, "0 bytes"), (1, "1 byte"), (512, "512 bytes"), (1000, "1 kB"), (1500, "1.5 kB"), (2048, "2 kB"),
    (45_000, "45 kB"), (999_999, "1 MB"), (2_400_000, "2.4 MB"), (9_999_999, "10 MB"), (497_000_000, "497 MB"),
    (256 * 2**20, "268 MB"), (46 * 10**9, "46 GB"), (4.8 * 10**12, "4.8 TB"), (3 * 10**18, "3,000 PB"),
])
def test_sizes_read_as_a_person_would_say_them(count, text):
    assert format_bytes(count) == text
