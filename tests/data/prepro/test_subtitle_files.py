"""data/prepro/subtitle_files.py: SubRip and WebVTT files as real players and ASR tools write them."""
from __future__ import annotations

import pytest

from data.prepro.annotations import BadInputError
from data.prepro.subtitle_files import (
    parse_srt,
    parse_timestamp,
    parse_vtt,
    read_subtitle_file,
    subtitle_file_of,
    subtitle_files,
    unmatched_subtitle_files,
)

SRT = (
    "\ufeff1\r\n"
    "00:00:01,000 --> 00:00:04,500\r\n"
    "<i>Where are</i> you going?\r\n"
    "<font color=\"#ffff00\">Out &amp; about.</font>\r\n"
    "\r\n"
    "2\r\n"
    "00:00:03,250 --> 00:00:06,000 X1:100 X2:600 Y1:50 Y2:80\r\n"
    "{\\an8}- Wait!\r\n"
    "- What?\r\n"
    "\r\n"
    "\r\n"
    "3\r\n"
    "01:02:03,4 --> 01:02:05,040\r\n"
    "Later.\r\n"
)


def test_srt_cues_bom_crlf_tags_multiline_and_overlaps():
    cues = parse_srt(SRT, "a.srt")
    assert cues == [
        {"text": "Where are you going? Out & about.", "start": 1.0, "end": 4.5},
        {"text": "- Wait! - What?", "start": 3.25, "end": 6.0},  # overlaps the first cue: kept as it is
        {"text": "Later.", "start": 3723.4, "end": 3725.04},
    ]


def test_srt_text_after_a_blank_line_continues_the_cue():
    cues = parse_srt("1\n00:00:01,000 --> 00:00:02,000\nfirst part\n\nsecond part\n\n"
                     "2\n00:00:03,000 --> 00:00:04,000\nnext\n")
    assert [c["text"] for c in cues] == ["first part second part", "next"]


VTT = """WEBVTT - a title
Kind: captions
Language: en

NOTE written by an ASR tool;
this comment spans lines

STYLE
::cue { color: yellow }

REGION
id:fred width:40%

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger Bingham>We are in <c.highlight>New York</c> City

00:02.000 --> 00:00:04.000
<00:00:02.100><c>karaoke</c><00:00:02.600><c> words</c>
<b>two</b> <u>lines</u>

1:00:00.000 --> 1:00:01.000
&lt;an hour later&gt;
"""


def test_vtt_header_note_style_region_settings_and_tags():
    cues = parse_vtt(VTT, "b.vtt")
    assert cues == [
        {"text": "We are in New York City", "start": 1.0, "end": 2.5},
        {"text": "karaoke words two lines", "start": 2.0, "end": 4.0},
        {"text": "<an hour later>", "start": 3600.0, "end": 3601.0},
    ]


@pytest.mark.parametrize("kind, text, where, problem", [
    ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 --> 00:0x:04,000\nbad\n",
     "cue 2 (line 5)", "malformed timestamp '00:0x:04,000'"),
    ("srt", "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 -> 00:00:04,000\nbad\n",
     "cue 2 (line 5)", "no timing line 'start --> end'"),
    ("srt", "1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", "cue 1 (line 1)", "ends before it starts"),
    ("srt", "1\n00:00:01,000 -->\nno end\n", "cue 1 (line 1)", "malformed timestamp ''"),
    ("vtt", "WEBVTT\n\nNOTE x\n\n00:01.000 --> 00:02.000\nok\n\n00:03.000 --> 00:04.0.0\nbad\n",
     "cue 2 (line 8)", "malformed timestamp '00:04.0.0'"),
    ("vtt", "1\n00:00:01.000 --> 00:00:02.000\nno header\n", "line 1", "not a WebVTT file"),
])
def test_a_bad_cue_is_one_line_naming_file_and_cue(tmp_path, kind, text, where, problem):
    path = tmp_path / f"video.{kind}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInputError) as error:
        read_subtitle_file(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {where}: {problem}") and "\n" not in message


def test_timestamps():
    assert parse_timestamp("00:00:01,5") == 1.5 and parse_timestamp("12:34.567") == 754.567
    assert parse_timestamp("100:00:00.000") == 360000.0 and parse_timestamp(" 00:00:02 ") == 2.0
    for bad in ("", "1.5", "00:61:00,000", "a:00:01,000", "00:00:01,0000"):
        with pytest.raises(ValueError, match="malformed timestamp"):
            parse_timestamp(bad)


def test_files_by_extension_and_video_name(tmp_path):
    (tmp_path / "clip one.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "talk.VTT").write_text(VTT, encoding="utf-8")  # an upper-case extension is read by its kind
    (tmp_path / "orphan.vtt").write_text(VTT, encoding="utf-8")
    assert len(read_subtitle_file(tmp_path / "clip one.srt")) == 3
    assert len(read_subtitle_file(tmp_path / "talk.VTT")) == 3
    files = subtitle_files(tmp_path)
    assert subtitle_file_of(files, "clip one") == tmp_path / "clip one.srt"
    assert subtitle_file_of(files, "talk") == tmp_path / "talk.VTT" and subtitle_file_of(files, "silent") is None
    assert unmatched_subtitle_files(tmp_path, ["clip one", "talk", "silent"]) == ["orphan.vtt"]
    (tmp_path / "clip one.vtt").write_text(VTT, encoding="utf-8")
    with pytest.raises(BadInputError, match="video clip one: two subtitle files"):
        subtitle_file_of(subtitle_files(tmp_path), "clip one")
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(BadInputError, match="latin1.srt: not UTF-8 text"):
        read_subtitle_file(tmp_path / "latin1.srt")
    with pytest.raises(BadInputError, match="unknown subtitle format '.txt'"):
        read_subtitle_file(tmp_path / "notes.txt")
