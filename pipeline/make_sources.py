"""Regenerate ``pipeline/sources.json``, the fetch manifest, from the raw folder's SOURCES.md and manifest.

A developer tool, not part of a build: run ``python -m pipeline.make_sources [--raw-dir DIR]`` after the
collection in the raw folder changes, review the diff, and commit ``sources.json``. ``pipeline fetch`` only
reads the JSON, so a fresh machine needs neither SOURCES.md nor the raw folder.

Where a file's address comes from (SOURCES.md):
- a per-file table row ``| `file` | github `repo` : `path` @ snapshot|commit `sha` ...`` (byte-for-byte copy);
- a folder copied whole, given by a ``**Source:** github `repo` : `folder/` @ snapshot `sha` `` line under a
  folder heading (the CDRC Camden pack): folder + the file's path inside it;
- the national LSOA 2011 boundaries, described in prose as all files of an English and a Welsh source folder:
  a file named ``E...`` comes from the folder with ``/eng/`` in its path, ``W...`` from ``/wal/`` (the ONS
  code's first letter is the nation); the rule is checked against the folder's own table rows;
- "Derived files": ``bulk.csv`` is a member of a zip in its source repository, and ``csv_from_xlsx/*.csv`` are
  written from the xlsx beside them by the documented openpyxl command.
A file matched by none of these gets ``url: null`` and an ``unresolved`` reason, which fetch reports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import quote

__all__ = ["FOLDERS", "SOURCES_JSON", "build_sources", "raw_url", "read_manifest", "write_sources"]

SOURCES_JSON = Path(__file__).with_name("sources.json")
# What the pipeline reads: the top-level folders, the national collection, and from `later/` (collected for
# features not yet built) the LSOA 2011 -> 2021 exact-fit lookup, the LSOA 2021 polygons of every authority,
# the 2025 deprivation indices (their data files: not the R package's licence note), the postcodes (OS
# Code-Point Open and the WC area's NSPL) and the gazetteer (OS Open Names). Trafford's ONSPD is not read by
# the build: the tests check the postcodes' LSOAs against the ONS's own assignment in it.
FOLDERS = ("boundaries/", "lookups/", "deprivation/", "census2011/", "census2021/", "national/",
           "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv", "later/boundaries/lsoa21_all_by_lad_drkane/",
           "later/postcodes/codepoint_open_2025_4/", "later/places/os_open_names_2021_settlements_EW_partial/",
           "later/deprivation_2025/iod2025_england_lsoa21/File_",
           "later/deprivation_2025/iod2025_england_lsoa21/imd2025_",
           "later/deprivation_2025/wimd2025_wales_lsoa21/",
           "later/postcodes/trafford_E08000009_onspd_trafforddatalab/onspd_may2022_lsoa11/trafford_postcodes.csv",
           "later/postcodes/nspl_nov2021_WC_area/NSPL_NOV_2021_UK_WC.csv", "later/air_quality/")
#: Collections documented in a SOURCES.md of their own, beside their files.
SUB_SOURCES = ("national/SOURCES.md",)

_ROW = re.compile(
    r"^\|\s*`(?P<file>[^`]+)`\s*\|\s*github\s+`(?P<repo>[^`]+)`\s*:\s*`(?P<path>[^`]+)`\s*"
    r"@\s*(?:snapshot|commit)\s+`(?P<commit>[0-9a-f]{40})`")
_DERIVED_ROW = re.compile(r"^\|\s*`(?P<file>[^`]+)`\s*\|\s*derived here")
_HEADING = re.compile(r"^###\s+`(?P<name>[^`]+)`")
_LICENCE = re.compile(r"^-\s+\*\*Publisher / licence:\*\*\s*(?P<text>.+)$")
_FOLDER_SOURCE = re.compile(
    r"^-\s+\*\*Source:\*\*\s*github\s+`(?P<repo>[^`]+)`\s*:\s*`(?P<path>[^`]+/)`\s*"
    r"@\s*(?:snapshot|commit)\s+`(?P<commit>[0-9a-f]{40})`")
_NATION_FOLDERS = re.compile(
    r"source folders\s+`(?P<a>[^`]+/)`\s*\(\d+\)\s*and\s*`(?P<b>[^`]+/)`\s*\(\d+\)\s*of\s*`(?P<repo>[^`]+)`"
    r"\s*@\s*(?:snapshot|commit)\s+`(?P<commit>[0-9a-f]{40})`")
# The third round's sections describe their sources in prose bullets: "Source: github `repo`, `data/` @ commit
# `sha`" after the bullet's files, or "(github `repo`, `folder/<code>.geojson` @ `sha`" for a folder of files.
_PROSE_SOURCE = re.compile(
    r"github\s+`(?P<repo>[^`]+)`\s*[,:]\s*`(?P<path>[^`]+)`\s*@\s*(?:snapshot\s+|commit\s+)?`(?P<commit>[0-9a-f]{40})`")
_PROSE_FILE = re.compile(r"`(?P<file>[\w.\-/]+\.[A-Za-z]\w*)`")
_SAME_AS = re.compile(r"same source, snapshot and licence as\s+`(?P<section>[^`]+)`")
# A collection packed or filtered from its source (Code-Point Open's CSVs in one .tar.xz; OS Open Names' rows):
# no address holds its files.
_MADE_HERE = re.compile(r"packed with xz|Derived, not a byte-for-byte copy")
_XLSX_SHEET = re.compile(r"^\s*-\s+(?P<file>File_\d+):\s+sheet\s+`(?P<sheet>[^`]+)`")
_ZIP_MEMBER = re.compile(
    r"`(?P<file>[^`]+)`\.\s*This is the zip member[^`]*`unzip\s+(?P<zipname>\S+)\s+(?P<member>[^`\s]+)`"
    r"[^`]*`(?P<repo>[^`]+)`\s*:\s*`(?P<path>[^`]+\.zip)`")


def raw_url(repo: str, commit: str, path: str) -> str:
    """The raw download address of ``path`` in ``repo`` at ``commit`` (GitHub's raw file host)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{quote(path, safe='/()')}"


def read_manifest(path: Path) -> dict[str, str]:
    """``sha256sum`` output -> {path relative to the raw folder: sha256}."""
    out: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        match = re.fullmatch(r"([0-9a-f]{64}) [ *]?(.+)", line)
        if not match:
            raise ValueError(f"{path}:{number}: not a sha256sum line: {line!r}")
        out[match.group(2).removeprefix("./")] = match.group(1)
    return out


@dataclass
class _Section:
    name: str
    licence: str = ""
    rows: dict[str, dict] = field(default_factory=dict)       # file -> source
    derived_rows: list[str] = field(default_factory=list)
    folder_source: dict | None = None
    nation_folders: dict | None = None
    prose_rows: dict[str, dict] = field(default_factory=dict)  # file -> source, from a bullet's prose
    folder_template: dict | None = None  # every file of the folder: path with "<code>" for the file's stem
    same_as: str = ""  # "the same source, snapshot and licence as `<section>`"
    paragraphs: list[str] = field(default_factory=list)
    made_here: bool = False  # the section's files were packed or filtered for the collection


def _sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    current: _Section | None = None
    paragraph = ""
    bullet = ""

    def end_bullet() -> None:
        if current is not None and bullet:
            current.paragraphs.append(bullet)
            _prose(current, bullet)

    for line in text.splitlines():
        if line.startswith(("## ", "### ")) or line.startswith("- ") or not line.strip():
            end_bullet()
            bullet = line.strip() if line.startswith("- ") else ""
        elif bullet and line.startswith("  "):
            bullet += " " + line.strip()
        if line.startswith("## "):
            current = None  # a top-level section (Appendix, later/...) ends the per-file details
            continue
        heading = _HEADING.match(line)
        if heading:
            current = _Section(heading.group("name"))
            sections.append(current)
            paragraph = ""
            continue
        if current is None:
            continue
        paragraph = paragraph + " " + line.strip() if line.strip() else ""
        if paragraph and not line.startswith(("- ", "  ", "|")):
            current.paragraphs.append(paragraph)
        if match := _LICENCE.match(line):
            current.licence = match.group("text").strip()
        elif match := _ROW.match(line):
            current.rows[match.group("file")] = {
                "repo": match.group("repo"), "path": match.group("path"), "commit": match.group("commit")}
        elif match := _DERIVED_ROW.match(line):
            current.derived_rows.append(match.group("file"))
        elif match := _FOLDER_SOURCE.match(line):
            current.folder_source = match.groupdict()
        if current.nation_folders is None and (match := _NATION_FOLDERS.search(paragraph)):
            current.nation_folders = match.groupdict()
        if _MADE_HERE.search(paragraph):
            current.made_here = True
    end_bullet()
    return sections


def _prose(section: _Section, bullet: str) -> None:
    """A bullet of a third-round section: its files and the source named at its end (see _PROSE_SOURCE)."""
    if match := _SAME_AS.search(bullet):
        section.same_as = match.group("section")
    source = _PROSE_SOURCE.search(bullet)
    if not source or not section.name.startswith("later/"):
        return
    repo, path, commit = source.group("repo"), source.group("path"), source.group("commit")
    if "<code>" in path:
        section.folder_template = {"repo": repo, "path": path, "commit": commit}
        return
    files = [m.group("file") for m in _PROSE_FILE.finditer(bullet[:source.start()])]
    folder = ""
    for name in files:
        if "/" in name:
            folder = name.rsplit("/", 1)[0] + "/"
            relative = name
        else:
            relative = folder + name
        inside = path + name.rsplit("/", 1)[-1] if path.endswith("/") else path
        if not path.endswith("/") and len(files) > 1:
            raise ValueError(f"{section.name}: a bullet names several files but one source file ({path})")
        section.prose_rows[section.name + relative] = {"repo": repo, "path": inside, "commit": commit}


def _derived_section(text: str) -> str:
    match = re.search(r"^## Derived files.*?(?=^## )", text, re.S | re.M)
    if not match:
        raise ValueError("SOURCES.md has no '## Derived files' section")
    return match.group(0)


def _same_licence(sections: list[_Section]) -> None:
    """"The same source, snapshot and licence as `<section>`": that section's licence line, named."""
    by_name = {s.name: s for s in sections}
    for section in sections:
        other = by_name.get(section.same_as)
        if not section.licence and other is not None and other.licence:
            section.licence = f"As `{other.name}`: {other.licence}"


def _resolve_licences(sections: list[_Section]) -> None:
    # "as above" only makes sense next to the section above it; an entry must stand on its own.
    for section in sections:
        # The third round's sections say their licence in prose: a sentence naming the Open Government Licence.
        if not section.licence:
            for text in section.paragraphs:
                sentence = next((x.strip() for x in re.split(r"(?<=\.)\s+", text) if "Open Government Licence" in x),
                                "")
                if sentence:
                    section.licence = sentence.lstrip("- ")
                    break
    previous = ""
    for section in sections:
        if section.licence.lower().startswith("as above") and previous:
            section.licence = f"{section.licence} [above: {previous}]"
        previous = section.licence or previous


def build_sources(raw_dir: Path) -> dict:
    """The manifest for every file under FOLDERS in ``raw_dir``'s MANIFEST.sha256, addressed from SOURCES.md.

    Sizes are read from the files in ``raw_dir`` and their SHA-256 is checked against MANIFEST.sha256, so a
    manifest can only be made from a verified collection.
    """
    text = (raw_dir / "SOURCES.md").read_text(encoding="utf-8")
    manifest = read_manifest(raw_dir / "MANIFEST.sha256")
    every = _sections(text)
    _same_licence(every)  # before the filter: a section may name one the pipeline does not read
    sections = [s for s in every if not s.name.startswith("later/") or s.name.startswith(FOLDERS)
                or any(f.startswith(s.name) for f in FOLDERS)]
    derived = _derived_section(text)
    sheets = {m.group("file"): m.group("sheet") for m in map(_XLSX_SHEET.match, derived.splitlines()) if m}
    zips = {m.group("file"): m.groupdict() for m in _ZIP_MEMBER.finditer(derived)}
    for sub in SUB_SOURCES:
        # A collection's own SOURCES.md: its per-file tables, and the zip members it extracted.
        sub_text = (raw_dir / sub).read_text(encoding="utf-8")
        sections += _sections(sub_text)
        zips.update({m.group("file"): m.groupdict() for m in _ZIP_MEMBER.finditer(sub_text)})
    _resolve_licences(sections)

    entries = []
    for path in sorted(p for p in manifest if p.startswith(FOLDERS) and p not in SUB_SOURCES):
        entry = _entry(path, sections, sheets, zips, manifest)
        local = raw_dir / path
        digest = hashlib.sha256(local.read_bytes()).hexdigest()
        if digest != manifest[path]:
            raise ValueError(f"{local}: SHA-256 {digest} differs from MANIFEST.sha256 ({manifest[path]})")
        entry = {"path": path, "sha256": manifest[path], "size": local.stat().st_size, **entry}
        entries.append(entry)
    used = {e["collection"] for e in entries}
    return {
        "about": "Every raw file the pipeline reads: where it comes from and its SHA-256. Made by "
                 "`python -m pipeline.make_sources` from SOURCES.md and MANIFEST.sha256; read by "
                 "`python -m pipeline fetch`. A file's `collection` names its section of SOURCES.md, "
                 "whose publisher and licence are under `collections`.",
        "collections": {s.name: {"licence": s.licence} for s in sections if s.name in used},
        "files": entries,
    }


def _entry(path: str, sections: list[_Section], sheets: dict[str, str], zips: dict[str, dict],
           manifest: dict[str, str]) -> dict:
    name = path.rsplit("/", 1)[-1]
    for section in sections:
        if path in section.rows:
            source = section.rows[path]
            if source["path"].endswith(".zip") and not path.endswith(".zip") and path not in zips:
                raise ValueError(f"{path}: its source is a zip, but Derived files does not say which member")
            if path in zips:
                # The file is a zip member: the row's address is the zip's, not the file's.
                zip_info = zips[path]
                if (zip_info["repo"], zip_info["path"]) != (source["repo"], source["path"]):
                    raise ValueError(f"{path}: the Derived files section and the table disagree on its zip")
                return {"source": source, "url": None, "collection": section.name,
                        "derive": {"zip_url": raw_url(source["repo"], source["commit"], source["path"]),
                                   "member": zip_info["member"]}}
            return {"source": source, "url": raw_url(source["repo"], source["commit"], source["path"]),
                    "collection": section.name}
        if path in section.derived_rows:
            return {"source": None, "url": None, "collection": section.name,
                    "derive": _xlsx_derive(path, sheets, manifest)}
    for section in sections:
        if path in section.prose_rows:
            source = section.prose_rows[path]
            return {"source": source, "url": raw_url(source["repo"], source["commit"], source["path"]),
                    "collection": section.name}
    for section in sections:
        folder = section.name
        if not (folder.endswith("/") and path.startswith(folder)):
            continue
        inside = path[len(folder):]
        if section.made_here:
            return {"source": None, "url": None, "collection": section.name,
                    "unresolved": "made for the collection from its source (packed or filtered, as SOURCES.md "
                                  "says), so no address holds it: copy it from a machine that has it"}
        if section.folder_template and "/" not in inside:
            t = section.folder_template
            source = {"repo": t["repo"], "path": t["path"].replace("<code>" + Path(inside).suffix, inside),
                      "commit": t["commit"]}
            return {"source": source, "url": raw_url(source["repo"], source["commit"], source["path"]),
                    "collection": section.name}
        if section.folder_source:
            src = section.folder_source
            source = {"repo": src["repo"], "path": src["path"] + inside, "commit": src["commit"]}
            return {"source": source, "url": raw_url(source["repo"], source["commit"], source["path"]),
                    "collection": section.name}
        if section.nation_folders and "/" not in inside and name[:1] in "EW":
            source = _nation_source(section, name)
            return {"source": source, "url": raw_url(source["repo"], source["commit"], source["path"]),
                    "collection": section.name}
    return {"source": None, "url": None, "collection": None,
            "unresolved": "SOURCES.md gives no source address for this file; copy it from a machine that "
                          "has it, or add its source to SOURCES.md and rerun pipeline.make_sources"}


def _nation_source(section: _Section, name: str) -> dict:
    folders = section.nation_folders
    assert folders is not None
    # The rule must agree with every row the table does give for this folder.
    for file, row in section.rows.items():
        stem = file.rsplit("/", 1)[-1]
        if stem[:1] in "EW" and row != _nation_path(section.name, folders, stem):
            raise ValueError(f"{section.name}: the E->eng / W->wal rule disagrees with the row for {file}")
    return _nation_path(section.name, folders, name)


def _nation_path(section: str, folders: dict, name: str) -> dict:
    nation = {"E": "/eng/", "W": "/wal/"}[name[0]]
    matching = [f for f in (folders["a"], folders["b"]) if nation in f]
    if len(matching) != 1:
        raise ValueError(f"{section}: cannot tell which source folder holds {name}")
    return {"repo": folders["repo"], "path": matching[0] + name, "commit": folders["commit"]}


def _xlsx_derive(path: str, sheets: dict[str, str], manifest: dict[str, str]) -> dict:
    folder, name = path.rsplit("/", 1)
    key = name.split("_-_", 1)[0]
    if key not in sheets:
        raise ValueError(f"{path}: the Derived files section names no sheet for {key}")
    parent = folder.rsplit("/", 1)[0]
    xlsx = [p for p in manifest if p.startswith(parent + "/" + key + "_-_") and p.endswith(".xlsx")]
    if len(xlsx) != 1:
        raise ValueError(f"{path}: expected one {key} xlsx in {parent}/, found {xlsx}")
    return {"xlsx": xlsx[0], "sheet": sheets[key]}


def write_sources(sources: dict, target: Path = SOURCES_JSON) -> None:
    """Write one entry per line, so a change to the collection reads as a small diff."""
    dump = partial(json.dumps, ensure_ascii=False, separators=(", ", ": "))
    lines = ["{", f'  "about": {dump(sources["about"])},', '  "collections": {']
    collections = list(sources["collections"].items())
    for i, (name, collection) in enumerate(collections):
        comma = "," if i < len(collections) - 1 else ""
        lines.append(f"    {dump(name)}: {dump(collection)}{comma}")
    lines += ["  },", '  "files": [']
    files = sources["files"]
    for i, entry in enumerate(files):
        comma = "," if i < len(files) - 1 else ""
        lines.append("    " + dump(entry) + comma)
    lines += ["  ]", "}", ""]
    target.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    from atlas import settings

    parser = argparse.ArgumentParser(prog="python -m pipeline.make_sources",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--raw-dir", type=Path, default=None,
                        help="folder with SOURCES.md, MANIFEST.sha256 and the files (default ATLAS_RAW_DIR)")
    parser.add_argument("--output", type=Path, default=SOURCES_JSON)
    args = parser.parse_args(argv)
    raw_dir = args.raw_dir or settings.load().raw_dir
    try:
        sources = build_sources(raw_dir)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_sources(sources, args.output)
    files = sources["files"]
    unresolved = [e["path"] for e in files if e.get("unresolved")]
    derived = sum(1 for e in files if e.get("derive"))
    print(f"wrote {args.output}: {len(files)} files, {derived} derived, {len(unresolved)} without an address")
    for path in unresolved:
        print(f"  no address: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
