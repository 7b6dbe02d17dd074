"""Readers for the three public MovieLens layouts, yielding canonical records (``data.canonical``).

Layouts (``detect_layout`` picks one from the files present):
  ml-100k    u.data (tab), u.user, u.item (``|``, latin-1), optional u.genre / u.occupation
  ml-1m      ratings.dat, users.dat, movies.dat (``::``, latin-1)
  ml-latest  ratings.csv, movies.csv, optional tags.csv (utf-8 CSV; also ml-latest-small); no
             demographics, so its records carry no ``user_*`` keys.

``read_movielens`` returns ``(records_iterator, report)``. All files are parsed and validated
before the first record is yielded, so the report is complete as soon as the call returns and a
malformed file fails before anything is written downstream. Ratings are held in numpy arrays
sorted by (timestamp, user, movie), ~40 bytes a rating (1.3 GB for ml-latest's 33M), and records
are built lazily from them. A clean ratings.csv is read by pandas in one vectorised pass; only a
file failing a check is re-read line by line, to name the bad row.

Record keys: the canonical ones (example_id ``"<user>-<movie>"``, user_id, item_id, timestamp,
label = rating >= 4, history) plus rating (raw float), the rating-aware history (history_liked:
earlier movies rated >= 4, history_disliked: rated <= 2, both most recent first and at most
``history_length`` long; history_rating_mean / history_rating_count: mean (0.0 when none) and
number of *all* the user's earlier ratings, not truncated), item_genres (list, [] when none:
ml-100k's "unknown" flag and ml-latest's "(no genres listed)" both mean none), item_year (from
the title's "(1995)" suffix; key left out when absent) and, for ml-100k/ml-1m, user_age,
user_gender, user_occupation, user_zip (first 5 chars). ml-1m ages are the dataset's bucket codes
(1, 18, 25, 35, 45, 50, 56; "1" means under 18), kept as-is because each code is the bucket's
lower bound; ml-1m occupation codes are mapped to the names of the dataset's README.

Every history field is "strictly earlier": ratings a user gave in the same second are not in each
other's history (they are one event as far as the data can tell, and letting one see the other
would leak the label of a simultaneous rating). Same-second ratings enter later histories in descending
movie-id order.

Validation: field counts, integer parsing, ids >= 1, rating range (1..5 integers for
ml-100k/ml-1m, 0.5..5 in 0.5 steps for ml-latest), timestamps >= 0, gender M/F, ml-1m age and
occupation codes, ratings that name an unknown user/movie, and a second rating of the same movie by
the same user (this would duplicate example_id; the first one in file order is kept). Duplicates
are checked after the per-line checks. With ``skip_bad_rows=False`` the first problem raises
``MovieLensFormatError``; with True bad rows are dropped and counted in the report (a dropped user
or movie row makes its ratings "unknown user"/"unknown movie" skips). Blank lines are ignored.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import os
import re
from array import array
from typing import Any, Iterator

import numpy as np

__all__ = ["MovieLensFormatError", "ReadReport", "detect_layout", "read_movielens", "LAYOUT_FILES",
           "ML100K_GENRES", "ML_LATEST_GENRES", "ML1M_AGES", "ML1M_OCCUPATIONS"]

# Required files per layout; the first one identifies the layout.
LAYOUT_FILES = {"ml-100k": ("u.data", "u.user", "u.item"),
                "ml-1m": ("ratings.dat", "users.dat", "movies.dat"),
                "ml-latest": ("ratings.csv", "movies.csv")}
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")
# ml-latest's genres as its files spell them ("Children", where its README writes "Children's");
# "(no genres listed)" is read as no genre.
ML_LATEST_GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
                    "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
                    "Sci-Fi", "Thriller", "War", "Western")
ML1M_AGES = (1, 18, 25, 35, 45, 50, 56)
ML1M_OCCUPATIONS = ("other", "academic/educator", "artist", "clerical/admin", "college/grad student",
                    "customer service", "doctor/health care", "executive/managerial", "farmer",
                    "homemaker", "K-12 student", "lawyer", "programmer", "retired",
                    "sales/marketing", "scientist", "self-employed", "technician/engineer",
                    "tradesman/craftsman", "unemployed", "writer")
_LATEST_RATINGS_HEADER = ["userId", "movieId", "rating", "timestamp"]
_YEAR = re.compile(r"\((\d{4})(?:[-\u2013]\d{4})?\)\s*$")  # "(1995)"; ml-latest has "(2006-2007)" too


class MovieLensFormatError(ValueError):
    """A malformed row: the message names file, 1-based line, field, bad value and expectation,
    e.g. ``u.data line 17, field 'rating': '6' is not one of 1..5``. ``reason`` is the short key
    under which ``skip_bad_rows=True`` counts it."""

    def __init__(self, file: str, line: int, field: str, value: Any, expected: str,
                 reason: str | None = None):
        self.file, self.line, self.field, self.value, self.expected = file, line, field, value, expected
        self.reason = f"{file}: {reason or 'bad ' + field}"
        super().__init__(f"{file} line {line}, field {field!r}: {value!r} {expected}")


@dataclasses.dataclass
class ReadReport:
    """What a read produced. Counts are over the ratings that will be yielded."""
    layout: str
    num_ratings: int = 0
    num_users: int = 0
    num_items: int = 0
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # reason -> rows dropped
    skipped_examples: list[str] = dataclasses.field(default_factory=list)  # first few 'file:line: why'


def detect_layout(path: str) -> str:
    """'ml-100k' | 'ml-1m' | 'ml-latest', from which ratings file the directory holds."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"MovieLens directory {path!r} does not exist")
    for layout, files in LAYOUT_FILES.items():
        if os.path.isfile(os.path.join(path, files[0])):
            return layout
    looked = ", ".join(f"{files[0]} ({layout})" for layout, files in LAYOUT_FILES.items())
    raise FileNotFoundError(f"no MovieLens layout recognised in {path!r}: looked for {looked}")


# ---------------------------------------------------------------- field checks (raise on bad value)
def _int(s: str, file: str, line: int, field: str, lo=None, hi=None) -> int:
    try:
        v = int(s)
    except ValueError:
        raise MovieLensFormatError(file, line, field, s, "is not an integer") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise MovieLensFormatError(file, line, field, s, f"is not an integer {rng}")
    return v


def _choice(s: str, options, file: str, line: int, field: str) -> str:
    if s not in options:
        raise MovieLensFormatError(file, line, field, s, f"is not one of {'/'.join(map(str, options))}")
    return s


def _new(table: dict, key: int, file: str, line: int, field: str) -> None:
    if key in table:
        raise MovieLensFormatError(file, line, field, str(key), "is a duplicate id", "duplicate id")


_SURROGATE = re.compile("[\udc80-\udcff]")  # an undecodable byte under errors="surrogateescape"


def _cut_short(file: str, line: int, raw: str) -> "MovieLensFormatError":
    """A last line without its line break: the file was cut (an interrupted download or copy),
    and the line may be too (a timestamp cut to its first digits still parses, as a 1970 date)."""
    return MovieLensFormatError(file, line, "row", raw[:80], "ends the file without a line break, "
                                "so the file looks cut short (interrupted download or copy?); "
                                "expected every line to end with a newline", "cut-short last line")


class _LastLine:
    """Lines of a text file for ``csv.reader``; ``cut`` turns True once a line without a line
    break (necessarily the last) has been handed out."""

    def __init__(self, fh):
        self.fh, self.cut = fh, False

    def __iter__(self):
        for line in self.fh:
            self.cut = not line.endswith("\n")
            yield line


def _year(title: str) -> int | None:
    m = _YEAR.search(title)
    return int(m.group(1)) if m else None


class _Reader:
    """One read's state: the directory, the skip policy and the report the skips go into."""

    def __init__(self, root: str, skip: bool, report: ReadReport):
        self.root, self.skip, self.report = root, skip, report

    def bad(self, err: MovieLensFormatError) -> None:
        if not self.skip:
            raise err
        self.report.skipped[err.reason] = self.report.skipped.get(err.reason, 0) + 1
        if len(self.report.skipped_examples) < 10:
            self.report.skipped_examples.append(f"{err.file}:{err.line}: {err}")

    def has(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, name))

    def lines(self, name: str, sep: str, nfields: int, encoding: str = "latin-1", *,
              terminated: bool = True):
        """(line number, fields) of a delimited file; rows with the wrong field count go to bad(),
        and so does a last line without a line break when ``terminated``."""
        with open(os.path.join(self.root, name), encoding=encoding, newline="") as fh:
            for i, raw in enumerate(fh, 1):
                cut = not raw.endswith("\n")  # only the last line can lack it
                raw = raw.rstrip("\r\n")
                if not raw.strip():
                    continue
                if cut and terminated:
                    self.bad(_cut_short(name, i, raw))
                    continue
                fields = raw.split(sep)
                if len(fields) != nfields:
                    self.bad(MovieLensFormatError(name, i, "row", raw[:80], f"has {len(fields)} fields; "
                                                  f"expected {nfields} separated by {sep!r}",
                                                  "wrong field count"))
                    continue
                yield i, fields

    def csv_rows(self, name: str, header: list[str]):
        """(line number, fields) of a quoted CSV with the given header (a wrong header always raises:
        the columns could not be trusted)."""
        # Undecodable bytes are kept (as surrogates) and reported with their row, rather than
        # failing the whole read with a byte offset into some buffer.
        with open(os.path.join(self.root, name), encoding="utf-8", errors="surrogateescape",
                  newline="") as fh:
            src = _LastLine(fh)
            rd = csv.reader(src)
            first = next(rd, None)
            if first != header:
                raise MovieLensFormatError(name, 1, "header", ",".join(first or []),
                                           f"is not the header {','.join(header)!r}")
            for fields in rd:
                if not fields:
                    continue
                if src.cut:
                    self.bad(_cut_short(name, rd.line_num, ",".join(fields)))
                    continue
                k = next((k for k, v in enumerate(fields) if _SURROGATE.search(v)), None)
                if k is not None:
                    byte = ord(_SURROGATE.search(fields[k]).group()) - 0xDC00
                    self.bad(MovieLensFormatError(
                        name, rd.line_num, header[k] if len(fields) == len(header) else "row",
                        fields[k].encode("utf-8", "surrogateescape"),
                        f"is not valid UTF-8 (byte 0x{byte:02x}); expected a UTF-8 file, as "
                        "MovieLens ships it (was it re-saved in another encoding?)", "not UTF-8"))
                    continue
                if len(fields) != len(header):
                    self.bad(MovieLensFormatError(name, rd.line_num, "row", ",".join(fields)[:80],
                                                  f"has {len(fields)} fields; expected {len(header)}",
                                                  "wrong field count"))
                    continue
                yield rd.line_num, fields

    def ratings(self, name, rows, names, users, movies, parse_rating):
        """Validate rating rows into arrays (user, movie, rating, timestamp, line)."""
        u, m, t, ln, r = array("q"), array("q"), array("q"), array("q"), array("d")
        for i, f in rows:
            try:
                uid = _int(f[0], name, i, names[0], lo=1)
                mid = _int(f[1], name, i, names[1], lo=1)
                rating = parse_rating(f[2], name, i, names[2])
                ts = _int(f[3], name, i, names[3], lo=0)
                if users is not None and uid not in users:
                    raise MovieLensFormatError(name, i, names[0], f[0], "is not a known user",
                                               "unknown user")
                if mid not in movies:
                    raise MovieLensFormatError(name, i, names[1], f[1], "is not a known movie",
                                               "unknown movie")
            except MovieLensFormatError as e:
                self.bad(e)
                continue
            u.append(uid), m.append(mid), r.append(rating), t.append(ts), ln.append(i)
        return tuple(np.frombuffer(a, dtype=np.float64 if a.typecode == "d" else np.int64)
                     for a in (u, m, r, t, ln))


def _int_rating(s, file, line, field) -> float:
    if s not in ("1", "2", "3", "4", "5"):
        raise MovieLensFormatError(file, line, field, s, "is not one of 1..5")
    return float(s)


def _half_star_rating(s, file, line, field) -> float:
    try:
        v = float(s)
    except ValueError:
        v = float("nan")
    if not (0.5 <= v <= 5.0 and (v * 2).is_integer()):
        raise MovieLensFormatError(file, line, field, s, "is not one of 0.5, 1.0, ..., 5.0")
    return v


# ------------------------------------------------------------------------------- the three layouts
def _read_100k(r: _Reader):
    # The real u.genre ends without a line break; both lists are small and read whole.
    genres = tuple(f[0] for _, f in r.lines("u.genre", "|", 2, terminated=False)) \
        if r.has("u.genre") else ML100K_GENRES
    occupations = [f[0] for _, f in r.lines("u.occupation", "|", 1, terminated=False)] \
        if r.has("u.occupation") else None
    users: dict[int, dict] = {}
    for i, f in r.lines("u.user", "|", 5):
        try:
            uid = _int(f[0], "u.user", i, "user_id", lo=1)
            age = _int(f[1], "u.user", i, "age", lo=0, hi=150)
            gender = _choice(f[2], ("M", "F"), "u.user", i, "gender")
            if occupations is not None:
                _choice(f[3], occupations, "u.user", i, "occupation")
            _new(users, uid, "u.user", i, "user_id")
        except MovieLensFormatError as e:
            r.bad(e)
            continue
        users[uid] = {"user_age": age, "user_gender": gender, "user_occupation": f[3],
                      "user_zip": f[4][:5]}
    movies: dict[int, tuple] = {}
    for i, f in r.lines("u.item", "|", 5 + len(genres)):
        try:
            mid = _int(f[0], "u.item", i, "movie_id", lo=1)
            for g, flag in zip(genres, f[5:]):
                _choice(flag, ("0", "1"), "u.item", i, g)
            _new(movies, mid, "u.item", i, "movie_id")
        except MovieLensFormatError as e:
            r.bad(e)
            continue
        gs = tuple(g for g, flag in zip(genres, f[5:]) if flag == "1" and g != "unknown")
        movies[mid] = (str(mid), gs, _year(f[1]))
    arrays = r.ratings("u.data", r.lines("u.data", "\t", 4),
                       ("user_id", "item_id", "rating", "timestamp"), users, movies, _int_rating)
    return "u.data", ("user_id", "item_id"), arrays, users, movies


def _read_1m(r: _Reader):
    users: dict[int, dict] = {}
    for i, f in r.lines("users.dat", "::", 5):
        try:
            uid = _int(f[0], "users.dat", i, "UserID", lo=1)
            gender = _choice(f[1], ("M", "F"), "users.dat", i, "Gender")
            age = int(_choice(f[2], [str(a) for a in ML1M_AGES], "users.dat", i, "Age"))
            occ = _int(f[3], "users.dat", i, "Occupation", lo=0, hi=len(ML1M_OCCUPATIONS) - 1)
            _new(users, uid, "users.dat", i, "UserID")
        except MovieLensFormatError as e:
            r.bad(e)
            continue
        users[uid] = {"user_age": age, "user_gender": gender,
                      "user_occupation": ML1M_OCCUPATIONS[occ], "user_zip": f[4][:5]}
    movies: dict[int, tuple] = {}
    for i, f in r.lines("movies.dat", "::", 3):
        try:
            mid = _int(f[0], "movies.dat", i, "MovieID", lo=1)
            _new(movies, mid, "movies.dat", i, "MovieID")
        except MovieLensFormatError as e:
            r.bad(e)
            continue
        movies[mid] = (str(mid), tuple(g for g in f[2].split("|") if g), _year(f[1]))
    arrays = r.ratings("ratings.dat", r.lines("ratings.dat", "::", 4),
                       ("UserID", "MovieID", "Rating", "Timestamp"), users, movies, _int_rating)
    return "ratings.dat", ("UserID", "MovieID"), arrays, users, movies


def _latest_ratings_fast(path: str, movie_ids: np.ndarray):
    """Vectorised read of a clean ratings.csv (ml-latest full: 33M rows in seconds). Returns None at
    the first sign of trouble, so the line-by-line path can name the exact row."""
    import pandas as pd

    with open(path, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                return None  # cut short: the last line may be too, and pandas would parse it
    try:
        df = pd.read_csv(path, engine="c", dtype={"userId": np.int64, "movieId": np.int64,
                                                   "rating": np.float64, "timestamp": np.int64})
    except (ValueError, pd.errors.ParserError):
        return None
    if list(df.columns) != _LATEST_RATINGS_HEADER:
        return None
    u, m, rt, t = (df[c].to_numpy() for c in _LATEST_RATINGS_HEADER)
    ok = (u >= 1) & (m >= 1) & (rt >= 0.5) & (rt <= 5.0) & (rt * 2 == np.round(rt * 2)) & (t >= 0)
    if not ok.all() or not np.isin(m, movie_ids).all() or _duplicates(u, m).any():
        return None
    return u, m, rt, t, None


def _read_latest(r: _Reader):
    movies: dict[int, tuple] = {}
    for i, f in r.csv_rows("movies.csv", ["movieId", "title", "genres"]):
        try:
            mid = _int(f[0], "movies.csv", i, "movieId", lo=1)
            _new(movies, mid, "movies.csv", i, "movieId")
        except MovieLensFormatError as e:
            r.bad(e)
            continue
        gs = () if f[2] in ("", "(no genres listed)") else tuple(g for g in f[2].split("|") if g)
        movies[mid] = (str(mid), gs, _year(f[1]))
    if r.has("tags.csv"):  # not used in records; validated so a corrupt download is noticed
        for i, f in r.csv_rows("tags.csv", ["userId", "movieId", "tag", "timestamp"]):
            try:
                for k, field, lo in ((0, "userId", 1), (1, "movieId", 1), (3, "timestamp", 0)):
                    _int(f[k], "tags.csv", i, field, lo=lo)
            except MovieLensFormatError as e:
                r.bad(e)
    arrays = _latest_ratings_fast(os.path.join(r.root, "ratings.csv"),
                                  np.fromiter(movies.keys(), np.int64, len(movies)))
    if arrays is None:
        arrays = r.ratings("ratings.csv", r.csv_rows("ratings.csv", _LATEST_RATINGS_HEADER),
                           _LATEST_RATINGS_HEADER, None, movies, _half_star_rating)
    return "ratings.csv", ("userId", "movieId"), arrays, None, movies


# --------------------------------------------------------------------------------- the public read
def _duplicates(u: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Mask of rows that repeat an earlier (user, movie) pair (np.unique keeps first occurrences)."""
    dup = np.ones(len(u), dtype=bool)
    if len(u):
        _, first = np.unique(u * (int(m.max()) + 1) + m, return_index=True)
        dup[first] = False
    return dup


def read_movielens(path: str, *, layout: str | None = None, history_length: int = 20,
                   skip_bad_rows: bool = False) -> tuple[Iterator[dict], ReadReport]:
    """Read a MovieLens directory: ``(records, report)``.

    The files are read and validated during this call (raising ``MovieLensFormatError`` unless
    ``skip_bad_rows``); ``records`` is a one-shot iterator of canonical record dicts (plain Python
    values) in (timestamp, user, movie) order. ``layout`` overrides detection ('ml-latest-small'
    is accepted as 'ml-latest').
    """
    if not isinstance(history_length, int) or history_length < 0:
        raise ValueError(f"history_length must be an int >= 0, got {history_length!r}")
    layout = detect_layout(path) if layout is None else layout
    layout = "ml-latest" if layout == "ml-latest-small" else layout
    if layout not in LAYOUT_FILES:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUT_FILES)}")
    missing = [f for f in LAYOUT_FILES[layout] if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise FileNotFoundError(f"{layout} directory {path!r} lacks {', '.join(missing)}")
    report = ReadReport(layout=layout)
    r = _Reader(path, skip_bad_rows, report)
    name, id_fields, (u, m, rating, ts, lines), users, movies = {
        "ml-100k": _read_100k, "ml-1m": _read_1m, "ml-latest": _read_latest}[layout](r)
    if lines is not None:  # the fast ml-latest path has already ruled duplicates out
        dup = _duplicates(u, m)
        for k in np.flatnonzero(dup):  # in file order, so the first duplicate is the one raised
            r.bad(MovieLensFormatError(name, int(lines[k]), id_fields[1], str(m[k]),
                                       f"is rated a second time by {id_fields[0]} {u[k]}; "
                                       "expected one rating per (user, movie)", "duplicate rating"))
        u, m, rating, ts = u[~dup], m[~dup], rating[~dup], ts[~dup]
    if not len(u):
        dropped = f" ({sum(report.skipped.values())} bad rows skipped: {report.skipped})" \
            if report.skipped else ""
        raise ValueError(f"{os.path.join(path, name)}: no ratings{dropped}; expected at least "
                         "one rating row")
    order = np.lexsort((m, u, ts))
    u, m, rating, ts = u[order], m[order], rating[order], ts[order]
    report.num_ratings, report.num_users = len(u), len(np.unique(u))
    report.num_items = len(np.unique(m))
    return _records(u, m, rating, ts, users, movies, history_length), report


LIKED, DISLIKED = 4.0, 2.0  # history_liked: earlier ratings >= 4 (the label's threshold); disliked: <= 2


def _records(u, m, rating, ts, users, movies, history_length: int,
             chunk: int = 65536) -> Iterator[dict]:
    """Build the records; per user, ``state`` holds the committed histories (all, liked,
    disliked), the committed ratings' sum and count, and the (movie, rating)s of the user's latest
    timestamp, which are committed only once a later timestamp shows up."""
    state: dict[int, list] = {}
    for s in range(0, len(u), chunk):
        rows = zip(u[s:s + chunk].tolist(), m[s:s + chunk].tolist(),
                   rating[s:s + chunk].tolist(), ts[s:s + chunk].tolist())
        for uid, mid, rt, t in rows:
            st = state.get(uid)
            if st is None:
                st = state[uid] = [collections.deque(maxlen=history_length), t, [],
                                   collections.deque(maxlen=history_length),
                                   collections.deque(maxlen=history_length), 0.0, 0]
            elif st[1] != t:
                for item, r in st[2]:
                    st[0].append(item)
                    if r >= LIKED:
                        st[3].append(item)
                    elif r <= DISLIKED:
                        st[4].append(item)
                    st[5] += r
                st[6] += len(st[2])
                st[1], st[2] = t, []
            item, genres, year = movies[mid]
            rec = {"example_id": f"{uid}-{item}", "user_id": str(uid), "item_id": item,
                   "timestamp": t, "rating": rt, "label": int(rt >= 4.0),
                   "item_genres": list(genres), "history": list(reversed(st[0])),
                   "history_liked": list(reversed(st[3])),
                   "history_disliked": list(reversed(st[4])),
                   "history_rating_mean": st[5] / st[6] if st[6] else 0.0,
                   "history_rating_count": st[6]}
            if year is not None:
                rec["item_year"] = year
            if users is not None:
                rec.update(users[uid])
            st[2].append((item, rt))
            yield rec
