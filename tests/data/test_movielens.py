"""Tests of data/movielens.py on tiny fixtures written per layout (no MovieLens data in the repo)."""

from __future__ import annotations

import csv
import os

import pytest

from recsys.data.movielens import (ML100K_GENRES, MovieLensFormatError, detect_layout, read_movielens)

LAYOUTS = ("ml-100k", "ml-1m", "ml-latest")

# (id, title, genres). Latin-1 'é' in one title, commas in two (quoted in movies.csv), no year and no
# genre in one.
MOVIES = [(1, "Toy Story (1995)", ["Animation", "Children's", "Comedy"]),
          (2, "Misérables, Les (1995)", ["Drama", "Musical"]),
          (3, "Good, the Bad and the Ugly, The (1966)", ["Western"]),
          (4, "Unknown Film", []),
          (5, "Heat (1995)", ["Action", "Crime", "Thriller"])]
# (user, movie, rating, timestamp) in file order, deliberately not sorted by time. User 1 rates
# movies 2 and 3 in the same second, user 2 movies 1 and 5.
RATINGS = [(1, 1, 5, 100), (1, 3, 4, 200), (2, 5, 5, 150), (1, 2, 3, 200), (1, 4, 1, 300),
           (2, 1, 4, 150), (1, 5, 2, 400), (2, 2, 2, 50), (3, 3, 3, 250)]
# ml-latest has half stars: shift a few so 3.5 (label 0) and 4.5 (label 1) both occur.
LATEST_RATINGS = [(u, m, r - 0.5 if i in (1, 2, 7) else float(r), t)
                  for i, (u, m, r, t) in enumerate(RATINGS)]
USERS_100K = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"),
              (3, 23, "M", "writer", "T8H1N")]
USERS_1M = [(1, "M", 25, 17, "85711-1234"), (2, "F", 50, 0, "94043"), (3, "M", 1, 10, "T8H1N")]
DEMOGRAPHICS = {
    "ml-100k": {"1": (24, "M", "technician", "85711"), "2": (53, "F", "other", "94043"),
                "3": (23, "M", "writer", "T8H1N")},
    "ml-1m": {"1": (25, "M", "technician/engineer", "85711"), "2": (50, "F", "other", "94043"),
              "3": (1, "M", "K-12 student", "T8H1N")},
}
RATINGS_FILE = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "ml-latest": "ratings.csv"}


def _write(path, lines, encoding="latin-1"):
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write("".join(line + "\n" for line in lines))


def rating_line(layout, u, m, r, t):
    return {"ml-100k": f"{u}\t{m}\t{r}\t{t}", "ml-1m": f"{u}::{m}::{r}::{t}",
            "ml-latest": f"{u},{m},{r},{t}"}[layout]


def write_fixture(root, layout):
    os.makedirs(root, exist_ok=True)
    j = lambda name: os.path.join(root, name)  # noqa: E731
    if layout == "ml-100k":
        _write(j("u.data"), [rating_line(layout, *r) for r in RATINGS])
        _write(j("u.user"), ["|".join(map(str, u)) for u in USERS_100K])
        _write(j("u.genre"), [f"{g}|{i}" for i, g in enumerate(ML100K_GENRES)] + [""])
        _write(j("u.item"), [f"{m}|{title}|01-Jan-1995||http://x|" + "|".join(
            "1" if g in genres or (g == "unknown" and not genres) else "0" for g in ML100K_GENRES)
            for m, title, genres in MOVIES])
    elif layout == "ml-1m":
        _write(j("ratings.dat"), [rating_line(layout, *r) for r in RATINGS])
        _write(j("users.dat"), ["::".join(map(str, u)) for u in USERS_1M])
        _write(j("movies.dat"), [f"{m}::{title}::{'|'.join(genres)}" for m, title, genres in MOVIES])
    else:
        _write(j("ratings.csv"), ["userId,movieId,rating,timestamp"]
               + [rating_line(layout, *r) for r in LATEST_RATINGS], encoding="utf-8")
        with open(j("movies.csv"), "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["movieId", "title", "genres"])
            for m, title, genres in MOVIES:
                w.writerow([m, title, "|".join(genres) or "(no genres listed)"])
        _write(j("tags.csv"), ["userId,movieId,tag,timestamp", '1,3,"spaghetti western, classic",210',
                               "2,5,heist,160"], encoding="utf-8")
    return str(root)


def expected_history(ratings, u, t, n):
    earlier = sorted(((t2, m2) for u2, m2, _, t2 in ratings if u2 == u and t2 < t), reverse=True)
    return [str(m2) for _, m2 in earlier][:n]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_read_fixture(tmp_path, layout):
    root = write_fixture(tmp_path / layout, layout)
    assert detect_layout(root) == layout
    recs, report = read_movielens(root, history_length=20)
    recs = list(recs)
    ratings = LATEST_RATINGS if layout == "ml-latest" else RATINGS
    assert (report.layout, report.num_ratings, report.num_users, report.num_items) == (layout, 9, 3, 5)
    assert report.skipped == {} and len(recs) == 9
    # Ordered by timestamp (then user, movie); every source rating appears exactly once.
    assert [(r["timestamp"], int(r["user_id"]), int(r["item_id"])) for r in recs] == sorted(
        (t, u, m) for u, m, _, t in ratings)
    by_id = {(u, m): (r, t) for u, m, r, t in ratings}
    movies = {str(m): (title, genres) for m, title, genres in MOVIES}
    for rec in recs:
        u, m = int(rec["user_id"]), int(rec["item_id"])
        rating, t = by_id[(u, m)]
        assert rec["example_id"] == f"{u}-{m}" and rec["timestamp"] == t
        assert rec["rating"] == rating and isinstance(rec["rating"], float)
        assert rec["label"] == int(rating >= 4)
        assert rec["item_genres"] == movies[rec["item_id"]][1]
        assert rec["history"] == expected_history(ratings, u, t, 20)
        for k, v in rec.items():  # plain Python values only
            assert type(v) in (str, int, float, list), (k, type(v))
            assert all(type(x) is str for x in v) if isinstance(v, list) else True
        demo = DEMOGRAPHICS.get(layout)
        if demo is None:
            assert not any(k.startswith("user_") and k != "user_id" for k in rec)
        else:
            assert (rec["user_age"], rec["user_gender"], rec["user_occupation"],
                    rec["user_zip"]) == demo[rec["user_id"]]
    recs_by = {r["example_id"]: r for r in recs}
    # Latin-1 / comma titles parsed: the year comes from the end of the title.
    assert recs_by["1-2"]["item_year"] == 1995 and recs_by["3-3"]["item_year"] == 1966
    assert recs_by["1-3"]["item_genres"] == ["Western"]
    assert "item_year" not in recs_by["1-4"] and recs_by["1-4"]["item_genres"] == []
    assert recs_by["1-1"]["item_genres"] == ["Animation", "Children's", "Comedy"]
    # Same-second ratings do not see each other; later ones see both, most recent first.
    assert recs_by["1-2"]["history"] == recs_by["1-3"]["history"] == ["1"]
    assert recs_by["2-1"]["history"] == recs_by["2-5"]["history"] == ["2"]
    assert recs_by["1-5"]["history"] == ["4", "3", "2", "1"]
    if layout == "ml-latest":
        assert {r["rating"] for r in recs} >= {3.5, 4.5}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_history_truncated(tmp_path, layout):
    recs, _ = read_movielens(write_fixture(tmp_path / layout, layout), history_length=2)
    hist = {r["example_id"]: r["history"] for r in recs}
    assert hist["1-5"] == ["4", "3"] and hist["1-4"] == ["3", "2"]
    recs, _ = read_movielens(str(tmp_path / layout), history_length=0)
    assert all(r["history"] == [] for r in recs)


def test_detect_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        detect_layout(str(tmp_path))
    assert all(f in str(e.value) for f in ("u.data", "ratings.dat", "ratings.csv"))
    root = write_fixture(tmp_path / "small", "ml-latest")
    assert read_movielens(root, layout="ml-latest-small")[1].layout == "ml-latest"
    os.remove(os.path.join(root, "movies.csv"))
    with pytest.raises(FileNotFoundError, match="movies.csv"):
        read_movielens(root)


# (layout, file, 1-based line, replacement, field named in the error, ratings lost when skipped).
BAD_ROWS = [
    ("ml-100k", "u.data", 3, "2\t5\t6\t150", "rating", 1),
    ("ml-100k", "u.data", 2, "1\tx\t4\t200", "item_id", 1),
    ("ml-100k", "u.data", 4, "9\t2\t3\t200", "user_id", 1),  # unknown user
    ("ml-100k", "u.data", 5, "1\t4\t1\t-5", "timestamp", 1),
    ("ml-100k", "u.data", 5, "1\t4\t1", "row", 1),
    ("ml-100k", "u.user", 2, "2|53|X|other|94043", "gender", 3),
    ("ml-1m", "ratings.dat", 1, "1::1::0::100", "Rating", 1),
    ("ml-1m", "ratings.dat", 7, "1::99::2::400", "MovieID", 1),  # unknown movie
    ("ml-1m", "users.dat", 1, "1::M::17::17::85711", "Age", 5),
    ("ml-1m", "users.dat", 3, "3::M::1::21::T8H1N", "Occupation", 1),
    ("ml-1m", "movies.dat", 2, "two::Misérables, Les (1995)::Drama", "MovieID", 2),
    ("ml-latest", "ratings.csv", 2, "1,1,4.3,100", "rating", 1),
    ("ml-latest", "ratings.csv", 3, "1,3,3.5,abc", "timestamp", 1),
    ("ml-latest", "ratings.csv", 4, "2,5,4.5,150,extra", "row", 1),
    ("ml-latest", "ratings.csv", 9, "2,42,2.0,50", "movieId", 1),  # unknown movie
    ("ml-latest", "movies.csv", 4, "x,\"Good, the Bad\",Western", "movieId", 2),
    ("ml-latest", "tags.csv", 3, "2,5,heist,-1", "timestamp", 0),
]


def _replace_line(path, lineno, text, encoding):
    with open(path, encoding=encoding, newline="") as fh:
        lines = fh.read().split("\n")
    lines[lineno - 1] = text
    _write(path, [ln for ln in lines[:-1]], encoding)


@pytest.mark.parametrize("layout,name,lineno,text,field,lost", BAD_ROWS)
def test_malformed_row(tmp_path, layout, name, lineno, text, field, lost):
    root = write_fixture(tmp_path / layout, layout)
    _replace_line(os.path.join(root, name), lineno, text, "utf-8" if layout == "ml-latest" else "latin-1")
    with pytest.raises(MovieLensFormatError) as e:
        read_movielens(root)
    msg = str(e.value)
    assert name in msg and f"line {lineno}," in msg and f"field '{field}'" in msg, msg
    assert (e.value.file, e.value.line, e.value.field) == (name, lineno, field)

    recs, report = read_movielens(root, skip_bad_rows=True)
    recs = list(recs)
    assert sum(report.skipped.values()) == 1 + (lost - 1 if name == RATINGS_FILE[layout] else lost)
    assert report.skipped_examples[0].startswith(f"{name}:{lineno}: ")
    assert len(recs) == report.num_ratings == 9 - lost


@pytest.mark.parametrize("layout", LAYOUTS)
def test_duplicate_rating(tmp_path, layout):
    root = write_fixture(tmp_path / layout, layout)
    path = os.path.join(root, RATINGS_FILE[layout])
    with open(path, "a", encoding="latin-1") as fh:
        fh.write(rating_line(layout, 1, 3, 2, 999) + "\n")
    lineno = len(RATINGS) + 1 + (layout == "ml-latest")
    with pytest.raises(MovieLensFormatError, match=f"line {lineno}, .*second time"):
        read_movielens(root)
    recs, report = read_movielens(root, skip_bad_rows=True)
    recs = list(recs)
    assert report.skipped == {f"{RATINGS_FILE[layout]}: duplicate rating": 1} and len(recs) == 9
    assert all(r["timestamp"] != 999 for r in recs)  # the first rating in file order is kept


def test_tfrecord_round_trip(tmp_path):
    pytest.importorskip("tensorflow")
    from recsys.data.canonical import read_tfrecords, write_tfrecords

    recs, _ = read_movielens(write_fixture(tmp_path / "ml", "ml-100k"))
    recs = list(recs)
    summary = write_tfrecords(iter(recs), str(tmp_path / "out"), num_shards=2)
    assert summary.counts == {"data": 9}
    back = {r["example_id"][0]: r for r in read_tfrecords(str(tmp_path / "out" / "data" / "*.gz"))}
    assert len(back) == 9
    for rec in recs:
        got = back[rec["example_id"]]
        assert set(got) == set(rec)
        for k, v in rec.items():
            assert got[k] == (v if isinstance(v, list) else [v]), k


def expected_rated(ratings, u, t, n, keep):
    earlier = sorted(((t2, m2) for u2, m2, r2, t2 in ratings if u2 == u and t2 < t and keep(r2)),
                     reverse=True)
    return [str(m2) for _, m2 in earlier][:n]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n", [20, 1])
def test_rating_aware_history(tmp_path, layout, n):
    """history_liked / history_disliked hold strictly earlier movies rated >= 4 / <= 2 (most recent
    first, at most n); the mean and count cover every strictly earlier rating, never this one."""
    recs = {r["example_id"]: r for r in read_movielens(
        write_fixture(tmp_path / layout, layout), history_length=n)[0]}
    ratings = LATEST_RATINGS if layout == "ml-latest" else RATINGS
    for u, m, r, t in ratings:
        rec = recs[f"{u}-{m}"]
        assert rec["history_liked"] == expected_rated(ratings, u, t, n, lambda x: x >= 4)
        assert rec["history_disliked"] == expected_rated(ratings, u, t, n, lambda x: x <= 2)
        earlier = [r2 for u2, _, r2, t2 in ratings if u2 == u and t2 < t]
        assert rec["history_rating_count"] == len(earlier)
        assert rec["history_rating_mean"] == pytest.approx(sum(earlier) / len(earlier) if earlier else 0.0)
    if layout != "ml-latest":
        # User 1: 1@100 (5), {2 (3), 3 (4)}@200, 4@300 (1), 5@400 (2). The same-second pair sees
        # only movie 1; movie 4 sees movie 3 as liked and movie 2 as neither.
        assert recs["1-2"]["history_liked"] == recs["1-3"]["history_liked"] == ["1"]
        assert recs["1-4"]["history_liked"] == ["3", "1"][:n] and recs["1-4"]["history_disliked"] == []
        assert recs["1-5"]["history_disliked"] == ["4"]
        assert recs["1-5"]["history_rating_mean"] == pytest.approx((5 + 3 + 4 + 1) / 4)
        assert recs["1-1"]["history_rating_count"] == 0 and recs["1-1"]["history_rating_mean"] == 0.0


def _rewrite(path, transform):
    with open(path, "rb") as fh:
        data = fh.read()
    with open(path, "wb") as fh:
        fh.write(transform(data))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_empty_ratings_file_is_an_error_naming_it(tmp_path, layout):
    root = write_fixture(tmp_path / layout, layout)
    header = b"userId,movieId,rating,timestamp\n" if layout == "ml-latest" else b""
    _rewrite(os.path.join(root, RATINGS_FILE[layout]), lambda _: header)
    with pytest.raises(ValueError, match=f"{RATINGS_FILE[layout]}: no ratings; expected at least one"):
        read_movielens(root)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_last_line_cut_inside_the_timestamp_is_an_error_not_a_1970_rating(tmp_path, layout):
    root = write_fixture(tmp_path / layout, layout)
    path = os.path.join(root, RATINGS_FILE[layout])
    with open(path, "a", encoding="latin-1") as fh:  # a rating of 2009, cut after "12"
        fh.write(rating_line(layout, 3, 1, 4, 1234567890)[:-8])
    lineno = len(RATINGS) + 1 + (layout == "ml-latest")
    with pytest.raises(MovieLensFormatError) as e:
        read_movielens(root)
    assert (e.value.file, e.value.line) == (RATINGS_FILE[layout], lineno)
    assert "cut short" in str(e.value)
    recs, report = read_movielens(root, skip_bad_rows=True)
    assert report.skipped == {f"{RATINGS_FILE[layout]}: cut-short last line": 1}
    assert sorted(r["timestamp"] for r in recs) == sorted(t for *_, t in RATINGS)


@pytest.mark.parametrize("name,lineno,field", [("movies.csv", 3, "title"), ("ratings.csv", 7, "rating")])
def test_non_utf8_byte_names_file_line_and_field(tmp_path, name, lineno, field):
    root = write_fixture(tmp_path / "ml-latest", "ml-latest")
    path = os.path.join(root, name)

    def latin1_line(data):  # one line re-encoded by an editor set to latin-1
        lines = data.split(b"\n")
        lines[lineno - 1] = lines[lineno - 1].replace(b"\xc3\xa9", b"\xe9").replace(b"4.0", b"4\xe9")
        return b"\n".join(lines)

    _rewrite(path, latin1_line)
    with pytest.raises(MovieLensFormatError) as e:
        read_movielens(root)
    assert (e.value.file, e.value.line, e.value.field) == (name, lineno, field)
    assert "is not valid UTF-8 (byte 0xe9)" in str(e.value)
    recs, report = read_movielens(root, skip_bad_rows=True)
    lost = {"ratings.csv": 1, "movies.csv": 2}[name]  # the row; or movie 2's two ratings
    assert report.skipped == {f"{name}: not UTF-8": 1,
                              **({"ratings.csv: unknown movie": 2} if name == "movies.csv" else {})}
    assert len(list(recs)) == len(RATINGS) - lost


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_column_is_named_at_its_first_line(tmp_path, layout):
    root = write_fixture(tmp_path / layout, layout)
    sep = {"ml-100k": b"\t", "ml-1m": b"::", "ml-latest": b","}[layout]
    _rewrite(os.path.join(root, RATINGS_FILE[layout]),  # the timestamp column is gone
             lambda data: b"\n".join(ln.rsplit(sep, 1)[0] for ln in data.split(b"\n")))
    with pytest.raises(MovieLensFormatError) as e:
        read_movielens(root)
    assert (e.value.file, e.value.line) == (RATINGS_FILE[layout], 1)
    expected = "is not the header 'userId,movieId,rating,timestamp'" if layout == "ml-latest" \
        else "has 3 fields; expected 4"
    assert expected in str(e.value)
