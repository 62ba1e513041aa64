"""Local election results by ward (House of Commons Library, 2021 and 2022) on December 2022 wards (ONS).

The level ``ward22``: every ward of England and Wales (ONS Wards, December 2022, one GeoJSON per authority).
The 2022 results join on ward code AND name: two codes are used twice in the source for different wards
(E05013778 for Hampton and Hampton Wick, E05009317 for Bethnal Green East and West). A row keeps its code
only if its name agrees with that ward's; a row that loses its code is placed on the one other ward of its
authority whose name agrees, or left out (and counted) when no single ward does: never guessed. The 2021
results are kept where their ward codes are December 2022 wards (county divisions, E58, have no polygons).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipeline import datasets as ds
from pipeline import readers
from pipeline.datasets import Dataset
from pipeline.readers import RawFiles, SourceError

__all__ = ["WARDS_DIR", "RESULTS", "read_wards", "read_results", "election_datasets", "normalise_name",
           "names_agree", "PARTY_COLOURS", "PARTY_NAMES", "ElectionReport"]

WARDS_DIR = "national/elections/wd22_by_lad"
RESULTS = {2022: "national/elections/results/local-elections-2022_Wards-results-Table 1.csv",
           2021: "national/elections/results/local_elections_2021_results-2_Wards-results-Table 1.csv"}
WARD_COLUMNS = ["WD22CD", "WD22NM", "LAD22CD"]

#: Conventional colours of the main parties (as used by the House of Commons Library and the press);
#: every other party has none.
PARTY_COLOURS = {"CON": "#0087DC", "LAB": "#E4003B", "LD": "#FAA61A", "GREEN": "#02A95B", "PC": "#005B54",
                 "REF": "#12B6CF", "UKIP": "#6D3177", "IND": "#DCDCDC"}
PARTY_NAMES = {"CON": "Conservative", "LAB": "Labour", "LD": "Liberal Democrats", "GREEN": "Green",
               "PC": "Plaid Cymru", "REF": "Reform UK", "UKIP": "UK Independence Party", "IND": "Independent",
               "RES": "Residents' associations", "SDP": "Social Democratic Party",
               "TUSC": "Trade Unionist and Socialist Coalition"}


def read_wards(raw: RawFiles, lad21: set[str]) -> gpd.GeoDataFrame:
    """Every December 2022 ward: code, name, authority (its LAD22CD, a December 2021 district), geometry.

    The files are named by the authority of April 2023, so the wards of districts since merged (Cumberland,
    North Yorkshire...) sit in their successor's file: the ward's own LAD22CD says where it belongs. A ward
    stored more than once (E05014284: two polygons, each twice) is kept once, its parts dissolved."""
    frames = []
    for path in raw.glob(WARDS_DIR, "*.geojson"):
        frame = readers.read_geojson(path, WARD_COLUMNS, raw.rel(path))
        bad = frame["WD22CD"][~frame["WD22CD"].str.match(r"^[EW]05\d{6}$")]
        if len(bad):
            raise SourceError(raw.rel(path), f"has ward codes that are not E05/W05 codes: {list(bad[:3])}")
        frames.append(frame[WARD_COLUMNS + ["geometry"]])
    wards = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)
    label = f"{WARDS_DIR}/*.geojson"
    unknown = sorted(set(wards["LAD22CD"]) - lad21)
    if unknown:
        raise SourceError(label, f"wards of districts that are not December 2021 districts: {unknown[:5]}")
    wkb = shapely.to_wkb(np.asarray(wards.geometry.values))
    wards = wards[~pd.DataFrame({"c": wards["WD22CD"], "g": wkb}).duplicated().to_numpy()]
    per_code = wards.groupby("WD22CD").agg(names=("WD22NM", "nunique"), lads=("LAD22CD", "nunique"))
    odd = per_code[(per_code["names"] > 1) | (per_code["lads"] > 1)]
    if len(odd):
        raise SourceError(label, f"ward codes with more than one name or district: {list(odd.index[:3])}")
    repeated = wards["WD22CD"].duplicated(keep=False)
    if repeated.any():
        parts = wards[repeated].groupby("WD22CD").geometry.apply(lambda g: shapely.union_all(np.asarray(g.values)))
        first = wards[repeated].drop_duplicates("WD22CD").set_index("WD22CD")
        first = first.set_geometry(parts.reindex(first.index).to_numpy())
        wards = pd.concat([wards[~repeated], first.reset_index()], ignore_index=True)
    wards = gpd.GeoDataFrame(wards, geometry="geometry", crs=4326)
    return gpd.GeoDataFrame({"code": wards["WD22CD"].to_numpy(), "name": wards["WD22NM"].str.strip().to_numpy(),
                             "authority": wards["LAD22CD"].to_numpy()},
                            geometry=wards.geometry.to_numpy(), crs=4326).set_index("code", drop=False)


# --------------------------------------------------------------------------------------------------
# names

def normalise_name(name: str) -> str:
    """A ward name for comparison: mojibake undone, accents and apostrophes dropped, '&' as 'and',
    punctuation as spaces, lower case ('St. Mary's' and 'St Marys' agree)."""
    text = name
    try:
        fixed = text.encode("cp1252").decode("utf-8")
        text = fixed
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"['’‘`æ]", "", text).replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def names_agree(a: str, b: str) -> int:
    """2: the same name once normalised; 1: the same place spelt differently (one name's words within the
    other's, one a prefix of the other, or close spellings); 0: different names."""
    x, y = normalise_name(a), normalise_name(b)
    if x == y:
        return 2
    tx, ty = set(x.split()) - {"and", "ward"}, set(y.split()) - {"and", "ward"}
    if tx and ty and (tx <= ty or ty <= tx):
        return 1
    if x.startswith(y) or y.startswith(x) or difflib.SequenceMatcher(None, x, y).ratio() >= 0.8:
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# results

@dataclass
class ElectionReport:
    year: int
    rows: int = 0
    joined: int = 0
    recoded: list[tuple[str, str, str]] = field(default_factory=list)     # (name, code in source, code used)
    unresolved: list[tuple[str, str]] = field(default_factory=list)       # (code, name) left out
    name_differs: list[tuple[str, str, str]] = field(default_factory=list)  # (code, source name, WD22 name)
    county_divisions: int = 0
    not_wd22: int = 0
    true_cells: int = 0
    true_recovered: int = 0
    ties: int = 0
    winner_unknown: int = 0

    def as_dict(self) -> dict:
        return {"rows": self.rows, "joined": self.joined, "recoded": [list(r) for r in self.recoded],
                "unresolved": [list(r) for r in self.unresolved], "names_differ": len(self.name_differs),
                "county_divisions_without_polygons": self.county_divisions,
                "ward_codes_not_in_wd22": self.not_wd22, "party_cells_reading_TRUE": self.true_cells,
                "TRUE_cells_recovered_from_total": self.true_recovered, "ties": self.ties,
                "winner_unknown": self.winner_unknown}


@dataclass
class Results:
    year: int
    label: str
    parties: list[str]
    frame: pd.DataFrame        # index: ward code; electorate, turnout, total, seats, votes per party
    winner: pd.Series          # index: ward code; party code or None
    report: ElectionReport
    #: index: every December 2022 ward of the authorities with results that year; a STATUS code saying why
    #: a ward has (or has no) winner
    status: pd.Series | None = None


#: Why a ward has, or has no, result (the categorical ``le<year>_result``): every empty ward says why.
STATUS = {
    "won": "Result: one party had the most votes",
    "tie": "No winner: two or more parties had the most votes (a tie)",
    "lost": "No winner: votes the source lost (cells reading TRUE) could change who had the most",
    "unresolved": "No result: the source uses this ward's code for two rows and no single ward's name matches",
    "none": "No result: the source lists no {year} result for this ward (no election here that year, or "
            "uncontested)",
}


_KEY = {2022: ("Ward code", "Ward name", "Local authority code"),
        2021: ("Ward/ED code", "Ward/ED name", "Local authority code")}
_FIXED = {2022: ["COUNTYNAME", "County code", "County name", "Local authority code", "Local authority name",
                 "Ward code", "Ward name", "Vacancies", "Type", "Electorate", "Turnout (%)"],
          2021: ["County code", "County name", "Local authority code", "Local authority name", "Ward/ED code",
                 "Ward/ED name", "Vacancies", "Type", "Electorate", "Turnout (%)"]}


def _number(text: str, label: str, where: str, allow_na: bool = False) -> float:
    value = text.strip()
    if value == "-":
        return 0.0
    if allow_na and value == "NA":
        return np.nan
    try:
        return float(value.replace(",", ""))
    except ValueError:
        raise SourceError(label, f"{where}: {text!r} is not a number") from None


def read_results(raw: RawFiles, year: int, wards: gpd.GeoDataFrame) -> Results:
    """One year's results, joined to the December 2022 wards (see the module's docstring)."""
    label = RESULTS[year]
    rows = readers.read_text_rows(raw(label), label)
    if len(rows) < 3 or not any(f"Local election results by ward, {year}" in c for c in rows[0]):
        raise SourceError(label, f"does not start with the title 'Local election results by ward, {year}'")
    header = [h.strip() for h in rows[1]]
    fixed = _FIXED[year]
    if header[:len(fixed)] != fixed or "Total votes" not in header:
        raise SourceError(label, f"has an unexpected header: {header[:len(fixed) + 1]}")
    end = header.index("Total votes")
    parties = header[len(fixed):end]
    if not parties or len(set(parties)) != len(parties) or any(not p for p in parties):
        raise SourceError(label, "its party columns are missing, blank or repeated")
    if any(h for h in header[end + 1:]):
        raise SourceError(label, f"has columns after 'Total votes': {header[end + 1:]}")
    code_col, name_col, lad_col = (header.index(c) for c in _KEY[year])
    report = ElectionReport(year)
    records = []
    for number, row in enumerate(rows[2:], 3):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise SourceError(label, f"line {number} has {len(row)} cells, the header {len(header)} (truncated?)")
        if any(c.strip() for c in row[end + 1:]):
            raise SourceError(label, f"line {number} has values after 'Total votes'")
        code = row[code_col].strip()
        if code == "NA":
            # the pivot's leftover totals row: every key cell NA (checked), nothing to keep
            if any(row[header.index(c)].strip() != "NA" for c in ("Ward name", "Electorate")):
                raise SourceError(label, f"line {number} has ward code NA but other cells filled")
            continue
        if code.startswith("E58"):
            report.county_divisions += 1
            continue
        if not re.fullmatch(r"[EW]05\d{6}", code):
            raise SourceError(label, f"line {number}: {code!r} is not a ward code")
        where = f"line {number} ({code})"
        record = {"code": code, "name": row[name_col].strip(), "lad": row[lad_col].strip(),
                  "seats": _number(row[header.index("Vacancies")], label, where, allow_na=True),
                  "electorate": _number(row[header.index("Electorate")], label, where, allow_na=True),
                  "turnout": _number(row[header.index("Turnout (%)")], label, where, allow_na=True),
                  "total": _number(row[end], label, where)}
        unknown = []
        for i, party in enumerate(parties, len(fixed)):
            cell = row[i].strip()
            if cell in ("", "0", "-"):
                record[party] = np.nan  # no votes recorded: the party had no candidate here
            elif cell == "TRUE":
                # A spreadsheet conversion fault in the source: a vote count became a boolean.
                record[party] = np.nan
                unknown.append(party)
            else:
                record[party] = _number(cell, label, f"{where}, {party}")
        known = sum(record[p] for p in parties if p not in unknown and not np.isnan(record[p]))
        report.true_cells += len(unknown)
        if len(unknown) == 1:
            rest = record["total"] - known
            if rest <= 0:
                raise SourceError(label, f"{where}: {unknown[0]} reads TRUE and the total leaves it {rest} votes")
            record[unknown[0]] = rest
            report.true_recovered += 1
            unknown = []
        elif not unknown and abs(known - record["total"]) > 0.5:
            raise SourceError(label, f"{where}: the parties' votes add up to {known:g}, not to Total votes "
                                     f"{record['total']:g}")
        record["_unknown"] = record["total"] - known if unknown else 0.0
        records.append(record)
    if not records:
        raise SourceError(label, "holds no ward rows")
    frame = pd.DataFrame(records)
    report.rows = len(frame)
    codes = _join(frame, wards, label, report)
    frame = frame.assign(ward=codes).dropna(subset=["ward"])
    if frame["ward"].duplicated().any():
        twice = list(frame.loc[frame["ward"].duplicated(), "ward"][:3])
        raise SourceError(label, f"two rows land on one ward: {twice}")
    report.joined = len(frame)
    frame = frame.set_index("ward")
    votes = frame[parties]
    best = votes.max(axis=1)
    n_best = votes.eq(best, axis=0).sum(axis=1)
    leader = votes.idxmax(axis=1, skipna=True).where(best.notna())
    decided = (n_best == 1) & (best > frame["_unknown"]) & best.notna()
    report.ties = int(((n_best > 1) & best.notna()).sum())
    report.winner_unknown = int((~decided).sum())
    winner = leader.where(decided)
    status = _status(frame.index, best, n_best, decided, wards, report)
    return Results(year, label, parties, frame.drop(columns=["code", "name", "lad", "_unknown"]), winner, report,
                   status)


def _status(joined: pd.Index, best: pd.Series, n_best: pd.Series, decided: pd.Series, wards: gpd.GeoDataFrame,
            report: ElectionReport) -> pd.Series:
    """A STATUS code for every ward of the authorities with results: won, tie, lost (TRUE cells could change
    the winner), unresolved (a reused code left out) or none (no row for it)."""
    authorities = set(wards.loc[joined, "authority"])
    every = wards.index[wards["authority"].isin(authorities)]
    out = pd.Series("none", index=every, dtype=object)
    tie = (n_best > 1) & best.notna()
    out[joined] = np.where(decided, "won", np.where(tie, "tie", "lost"))
    left_out = {code for code, _ in report.unresolved} & set(every) - set(joined)
    out[list(left_out)] = "unresolved"
    return out.sort_index()


def _join(frame: pd.DataFrame, wards: gpd.GeoDataFrame, label: str, report: ElectionReport) -> pd.Series:
    """The December 2022 ward of each row, joined on code and name (None where it cannot be told)."""
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    in_wd22 = frame["code"].isin(wards.index)
    if report.year == 2022 and not in_wd22.all():
        missing = sorted(set(frame.loc[~in_wd22, "code"]))
        raise SourceError(label, f"{len(missing)} ward codes are not December 2022 wards, e.g. {missing[:3]}")
    report.not_wd22 = int((~in_wd22).sum())
    claimed = set(frame.loc[in_wd22, "code"])
    losers = []
    for code, group in frame[in_wd22].groupby("code", sort=False):
        ward_name = wards.at[code, "name"]
        quality = {i: names_agree(frame.at[i, "name"], ward_name) for i in group.index}
        if len(group) == 1:
            (i,) = group.index
            out[i] = code
            if quality[i] < 2:
                report.name_differs.append((code, frame.at[i, "name"], ward_name))
            continue
        top = max(quality.values())
        keepers = [i for i, q in quality.items() if q == top]
        if top > 0 and len(keepers) == 1:
            out[keepers[0]] = code
            losers.extend(i for i in group.index if i != keepers[0])
        else:
            claimed.discard(code)  # nobody may keep it by code: it is open to a match by name
            losers.extend(group.index)
    for i in losers:
        authority = wards.at[frame.at[i, "code"], "authority"]
        here = wards[(wards["authority"] == authority) & ~wards.index.isin(claimed)]
        scores = {code: names_agree(frame.at[i, "name"], name) for code, name in here["name"].items()}
        best = max(scores.values(), default=0)
        matches = [c for c, q in scores.items() if q == best and q > 0]
        others = [j for j in losers if j != i]
        contested = any(names_agree(frame.at[j, "name"], wards.at[m, "name"]) > 0 for j in others for m in matches)
        if len(matches) == 1 and not contested:
            out[i] = matches[0]
            claimed.add(matches[0])
            report.recoded.append((frame.at[i, "name"], frame.at[i, "code"], matches[0]))
        else:
            report.unresolved.append((frame.at[i, "code"], frame.at[i, "name"]))
    return out


def _party_id(party: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", party.lower()).strip("_")


def election_datasets(results: list[Results]) -> list[Dataset]:
    """Per year: a numeric dataset (electorate, turnout, votes, seats, votes and vote share per party) and a
    categorical one (the party with the most votes), at ward22."""
    out = []
    for result in results:
        year, report = result.year, result.report
        prefix = f"le{year}"
        frame = result.frame
        data: dict[str, object] = {"code": frame.index.to_numpy()}
        common = ("Elections", f"Local elections {year}", f"Local election results by ward, {year}")
        vintage = f"Local elections {year}"
        unresolved = "; ".join(f"{c} {n}" for c, n in report.unresolved)
        recoded = "; ".join(f"{n} (source code {a}, ward {b})" for n, a, b in report.recoded)
        join_note = ("Joined to December 2022 wards on code and name"
                     + (f"; placed by name where the source reuses a code: {recoded}" if recoded else "")
                     + (f"; left out where no single ward matches: {unresolved}" if unresolved else "") + ".")
        if year == 2021:
            join_note += (f" Only wards whose code is a December 2022 ward ({report.joined} of "
                          f"{report.joined + report.not_wd22}); county divisions ({report.county_divisions}) "
                          "have no polygons here.")
        multi = ("In multi-member wards each voter has several votes: the source does not say whether a party's "
                 "figure is the sum of its candidates' votes or its best candidate's.")
        true_note = (f" In {report.true_recovered} wards one party's votes read TRUE in the source (a spreadsheet "
                     "conversion fault); they are taken as Total votes less the other parties' votes."
                     + (f" Where two or more did ({report.true_cells - report.true_recovered} cells), those "
                        "parties' votes are left empty." if report.true_cells > report.true_recovered else "")
                     ) if report.true_cells else ""
        def empty(key: str, what: str, frame: pd.DataFrame = frame) -> str:
            n = int(frame[key].isna().sum())
            return f" Empty for {n} wards where the source gives NA{what}." if n else ""

        columns = [("electorate", "Electorate", "Electorate", "count", "published", empty("electorate", "").strip()),
                   ("turnout", "Turnout (%)", "Turnout (%)", "percentage", "published",
                    "As published: the share of the electorate who voted." + empty("turnout", "")),
                   ("total", "Total votes cast", "Total votes", "count", "published", multi),
                   ("seats", "Seats contested", "Vacancies", "count", "published", empty("seats", "").strip())]
        variables = []
        for key, label, cell, unit, method, note in columns:
            ident = f"{prefix}_{'votes_total' if key == 'total' else key}"
            data[ident] = frame[key].to_numpy()
            variables.append(ds.variable(ident, f"{label}, {year}", *common, cell, unit, "elections", vintage,
                                         method=method, note=" ".join(n for n in (note, join_note) if n),
                                         coverage="Wards with results", cells=cell))
        for party in result.parties:
            votes = frame[party]
            if votes.notna().sum() == 0:
                continue
            pid = _party_id(party)
            name = PARTY_NAMES.get(party, f"{party} (party code as in the source)")
            data[f"{prefix}_votes_{pid}"] = votes.to_numpy()
            data[f"{prefix}_share_{pid}"] = (votes / frame["total"].where(frame["total"] > 0) * 100).to_numpy()
            note = " ".join(n for n in (multi + true_note, join_note) if n)
            variables.append(ds.variable(f"{prefix}_votes_{pid}", f"Votes: {name}, {year}", *common, party, "count",
                                         "elections", vintage, cells=f"{party}", note=note,
                                         coverage="Wards where the party stood"))
            variables.append(ds.variable(f"{prefix}_share_{pid}", f"Vote share: {name}, {year} (% of votes cast)",
                                         *common, party, "percentage", "elections", vintage,
                                         denominator=f"{prefix}_votes_total", method="derived",
                                         description=f"Derived here: {party} / Total votes x 100",
                                         cells=f"{party} / Total votes x 100", note=note,
                                         coverage="Wards where the party stood"))
        ids = [v["id"] for v in variables]
        if len(set(ids)) != len(ids):
            raise SourceError(result.label, "two parties have the same id once simplified")
        out.append(Dataset(prefix, {"ward22": pd.DataFrame(data)}, variables, ("ward22",), "Wards with results"))
        winners = result.winner.dropna()
        order = [p for p in result.parties if p in set(winners)]
        categories = [{"code": p, "label": PARTY_NAMES.get(p, p), "colour": PARTY_COLOURS.get(p)} for p in order]
        # Why each ward has, or has no, result: a categorical variable of its own, named by every election
        # variable of the year (``reason_variable``), so an empty ward's hover card and table row say why.
        reason_id = f"{prefix}_result"
        for v in variables:
            v["reason_variable"] = reason_id
        winner_note = (f"The party with the most votes in the ward. In multi-member wards seats may be shared "
                       f"between parties: the source gives votes, not seats won. Empty where parties tie "
                       f"({report.ties}) or where votes the source lost (TRUE) could change the result. "
                       + join_note)
        status = result.status if result.status is not None else pd.Series(dtype=object)
        codes = status.index.union(result.winner.index)
        frame_w = pd.DataFrame({"code": codes.to_numpy(),
                                f"{prefix}_winner": result.winner.reindex(codes).astype(object)
                                .where(result.winner.reindex(codes).notna(), None).to_numpy(),
                                reason_id: status.reindex(codes).astype(object).where(
                                    status.reindex(codes).notna(), None).to_numpy()})
        counts = status.value_counts()
        winner = ds.variable(
            f"{prefix}_winner", f"Party with the most votes, {year}", *common, "winner", "category", "elections",
            vintage, kind="categorical", method="derived", categories=categories, note=winner_note,
            cells="the party column with the largest number of votes", coverage="Wards with results")
        winner["reason_variable"] = reason_id
        reason = ds.variable(
            reason_id, f"Result of the ward, {year}: winner, tie, or why none", *common, "result", "category",
            "elections", vintage, kind="categorical", method="derived",
            categories=[{"code": c, "label": t.format(year=year), "colour": None} for c, t in STATUS.items()
                        if counts.get(c)],
            note=(f"Every ward of the authorities with {year} results: {int(counts.get('won', 0)):,} with a winner, "
                  f"{int(counts.get('tie', 0)):,} ties, {int(counts.get('lost', 0)):,} where lost votes could change "
                  f"the winner, {int(counts.get('unresolved', 0)):,} left out (a reused code), "
                  f"{int(counts.get('none', 0)):,} with no result in the source. " + join_note),
            cells="derived from the results' votes and the join to December 2022 wards",
            coverage="Wards of authorities with results")
        out.append(Dataset(f"{prefix}_winner", {"ward22": frame_w}, [winner, reason], (),
                           "Wards of authorities with results"))
    return out
