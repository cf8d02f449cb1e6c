"""Taxonomies: the built-in ones are exactly the paper's Table S1; custom mappings parse or say where not."""
import json

import numpy as np
import pytest

from low2high.core.errors import Low2HighError
from low2high.engine.labels.classes import MERGED_COLOURS, MERGED_NAMES
from low2high.engine.labels.taxonomy import load_taxonomy

WATER, FOREST, FIELD, IMPERVIOUS, IGNORE = 0, 1, 2, 3, 255

# Table S1 of Workman et al. (WACV 2023), written out by hand from the paper.
TABLE_S1_NLCD = {
    11: WATER,
    41: FOREST, 42: FOREST, 43: FOREST, 51: FOREST, 52: FOREST, 90: FOREST,
    71: FIELD, 72: FIELD, 73: FIELD, 74: FIELD, 81: FIELD, 82: FIELD, 95: FIELD,
    21: IMPERVIOUS, 22: IMPERVIOUS, 23: IMPERVIOUS, 24: IMPERVIOUS, 31: IMPERVIOUS,
    12: IGNORE,
}
TABLE_S1_CHESAPEAKE = {1: WATER, 2: FOREST, 3: FIELD, 4: IMPERVIOUS, 5: IMPERVIOUS, 6: IMPERVIOUS}
TABLE_S1_ENVIROATLAS = {10: WATER, 40: FOREST, 52: FOREST, 82: FOREST, 91: FOREST,
                        30: FIELD, 70: FIELD, 80: FIELD, 92: FIELD, 20: IMPERVIOUS}


def test_nlcd_is_table_s1_with_all_20_classes():
    taxonomy = load_taxonomy("nlcd")
    mapping = taxonomy.mapping
    assert len(TABLE_S1_NLCD) == 20
    assert {code: merged for code, merged in mapping.items() if code != 0} == TABLE_S1_NLCD
    assert mapping[0] == IGNORE  # NLCD's background value, not a class
    names = {item.code: item.name for item in taxonomy.classes}
    assert names[51] == "Dwarf Scrub" and names[72] == "Sedge/Herbaceous" and names[73] == "Lichens"
    assert names[74] == "Moss" and names[12] == "Perennial Ice/Snow" and names[95] == "Emergent Herbaceous Wetlands"
    colours = {item.code: item.colour for item in taxonomy.classes}
    assert colours[11] == (0x46, 0x6B, 0x9F) and colours[82] == (0xAB, 0x6C, 0x28)  # the NLCD legend's


def test_chesapeake_is_table_s1_and_its_nodata_codes_are_ignored():
    mapping = load_taxonomy("chesapeake").mapping
    assert {code: merged for code, merged in mapping.items() if code not in (0, 15)} == TABLE_S1_CHESAPEAKE
    assert mapping[15] == IGNORE and mapping[0] == IGNORE


def test_enviroatlas_is_table_s1():
    taxonomy = load_taxonomy("enviroatlas")
    assert {code: merged for code, merged in taxonomy.mapping.items() if code != 0} == TABLE_S1_ENVIROATLAS
    assert taxonomy.mapping[0] == IGNORE
    assert {item.code: item.name for item in taxonomy.classes}[82] == "Orchards"
    assert "ATtILA2" in taxonomy.source  # where the code list was checked


def test_merged_taxonomy_file_matches_the_code():
    taxonomy = load_taxonomy("merged")
    assert [item.name for item in taxonomy.classes[:4]] == list(MERGED_NAMES)
    assert [item.colour for item in taxonomy.classes[:4]] == list(MERGED_COLOURS)
    assert taxonomy.mapping == {0: 0, 1: 1, 2: 2, 3: 3, 255: 255}


@pytest.mark.parametrize("size", [256, 65536])
def test_lookup_table_maps_known_codes_and_sends_the_rest_to_nodata(size):
    lut = load_taxonomy("nlcd").lookup_table(size)
    assert lut.dtype == np.uint8 and lut.size == size
    labels = np.array([[11, 41, 82], [21, 12, 13]], np.uint8)
    assert lut[labels].tolist() == [[0, 1, 2], [3, 255, 255]]


def test_custom_mapping_accepts_indices_names_and_ignore():
    taxonomy = load_taxonomy("custom", " 11:water, 41:1 ; 82:Field\n21 : impervious, 12:ignore, 99:255, 7:nodata,")
    assert taxonomy.name == "custom"
    assert taxonomy.mapping == {7: 255, 11: 0, 12: 255, 21: 3, 41: 1, 82: 2, 99: 255}


def test_custom_mapping_allows_codes_beyond_a_byte():
    taxonomy = load_taxonomy("custom", "1000:water,65535:forest")
    assert taxonomy.lookup_table(65536)[[1000, 65535, 5]].tolist() == [0, 1, 255]


@pytest.mark.parametrize("mapping,message", [
    ("11:water,41:forest,41=forest", "MAPPING item 3 ('41=forest'): expected code:class"),
    ("11:water,x1:forest", "MAPPING item 2 ('x1:forest'): the code 'x1' is not a whole number"),
    ("11:lake", "MAPPING item 1 ('11:lake'): 'lake' is not a merged class"),
    ("11:water,41:7", "MAPPING item 2 ('41:7'): '7' is not a merged class"),
    ("11:water:forest", "MAPPING item 1 ('11:water:forest'): expected code:class"),
    ("11:water,41:forest,11:field", "MAPPING gives code 11 twice (items 1 and 3)"),
    ("", "needs MAPPING"),
    ("missing.csv", "'missing.csv' does not exist"),
])
def test_bad_mappings_say_where_they_fail(mapping, message):
    with pytest.raises(Low2HighError) as error:
        load_taxonomy("custom", mapping)
    assert message in str(error.value)


def test_csv_mapping_with_header_names_and_colours(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("code,class,name,colour\n11,water,Open water,#0000ff\n41,forest,,\n# a comment\n\n82,2,Crops\n")
    taxonomy = load_taxonomy("custom", str(path))
    assert taxonomy.mapping == {11: 0, 41: 1, 82: 2}
    assert taxonomy.classes[0].name == "Open water" and taxonomy.classes[0].colour == (0, 0, 255)
    assert taxonomy.classes[2].name == "Crops"


def test_csv_mapping_with_semicolons_and_no_header(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("11;water\n21;impervious\n")
    assert load_taxonomy("custom", str(path)).mapping == {11: 0, 21: 3}


@pytest.mark.parametrize("name,text,message", [
    ("bad.csv", "code,class\n11,water\n41,trees\n", "'bad.csv' line 3: 'trees' is not a merged class"),
    ("bad.csv", "code,class\n11,water\nforty,forest\n", "'bad.csv' line 3: expected code,class"),
    ("bad.csv", "11,water\n12\n", "'bad.csv' line 2: expected code,class"),
    ("bad.csv", "11,water,Water,blue\n", "'bad.csv' line 1: a colour must be"),
    ("bad.json", '{"11": "water",}', "'bad.json' is not valid JSON (line 1"),
    ("bad.json", '{"eleven": "water"}', "the key 'eleven' is not a whole-number class code"),
    ("bad.json", '{"11": "lake"}', "'bad.json', code 11: 'lake' is not a merged class"),
    ("bad.json", '[1, 2]', "must hold a JSON object"),
    ("dup.csv", "code,class\n11,water\n41,forest\n42,forest\n41,field\n",
     "'dup.csv' gives code 41 twice (lines 3 and 5)"),
    ("dup.json", '{\n  "11": "water",\n  "41": "forest",\n  "11": "field"\n}\n',
     "'dup.json' gives code 11 more than once (lines 2, 4)"),
])
def test_table_file_errors_say_where_and_what(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(Low2HighError) as error:
        load_taxonomy("custom", str(path))
    assert message in str(error.value)


def test_json_mapping_flat_and_in_the_built_in_format(tmp_path):
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"11": "water", "41": 1, "12": "ignore"}))
    assert load_taxonomy("custom", str(flat)).mapping == {11: 0, 12: 255, 41: 1}
    full = tmp_path / "full.json"
    full.write_text(json.dumps({"name": "mine", "classes": {"5": {"name": "Pond", "class": 0, "colour": [1, 2, 3]}}}))
    taxonomy = load_taxonomy("custom", str(full))
    assert taxonomy.mapping == {5: 0} and taxonomy.classes[0].colour == (1, 2, 3)


def test_unknown_taxonomy_and_mapping_with_a_built_in_one_are_refused():
    with pytest.raises(Low2HighError, match="Unknown taxonomy 'corine'"):
        load_taxonomy("corine")
    with pytest.raises(Low2HighError, match="MAPPING is only used with the custom taxonomy"):
        load_taxonomy("nlcd", "11:water")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_table_saved_as_unicode_text_is_read(tmp_path, encoding):
    """Excel's "Unicode text" (UTF-16 with a mark, tab-separated) and BOM-less UTF-16 read like UTF-8."""
    path = tmp_path / "mine.csv"
    path.write_bytes("code\tclass\tname\r\n11\twater\tEau\r\n41\tforest\tForêt\r\n".encode(encoding))
    taxonomy = load_taxonomy("custom", str(path))
    assert taxonomy.mapping == {11: 0, 41: 1}
    assert [item.name for item in taxonomy.classes] == ["Eau", "Forêt"]


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,  # an image renamed .csv
    b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 8,  # an .xlsx renamed .csv
    bytes((index * 37 + 11) % 256 for index in range(4000)),  # arbitrary bytes
])
def test_a_binary_file_given_as_a_table_is_one_sentence(tmp_path, content):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(Low2HighError, match=r"^The MAPPING file 'table.csv' is not a text table \(it holds binary "
                                            r"data.*save the table as 'CSV UTF-8'"):
        load_taxonomy("custom", str(path))


def test_a_csv_the_reader_cannot_split_is_one_sentence(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text('11,water\n41,"' + "a" * 200_000 + '"\n')
    with pytest.raises(Low2HighError, match=r"^The MAPPING file 'table.csv' cannot be read as CSV on line 2 "):
        load_taxonomy("custom", str(path))
