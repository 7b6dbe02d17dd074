"""A small made-up data set in any of the three MovieLens layouts (ml-100k, ml-1m, ml-latest: the
real files, column layouts, separators, encodings and quoting), for tests, benchmarks and curating
the schema of a layout whose real data is not at hand. MovieLens itself is under a research
licence and never copied into this repository.

The ratings have structure a model can learn, so a pipeline run on them can be blessed: users and
movies have latent tastes over the genres, a user rates the movies nearest their taste more often
(weighted by popularity) and rates them higher. Seeded: the same arguments write the same bytes.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from recsys.data.movielens import (LAYOUT_FILES, ML100K_GENRES, ML1M_AGES, ML1M_OCCUPATIONS,
                                   ML_LATEST_GENRES)

# ml-100k's u.occupation.
ML100K_OCCUPATIONS = ("administrator", "artist", "doctor", "educator", "engineer", "entertainment",
                      "executive", "healthcare", "homemaker", "lawyer", "librarian", "marketing",
                      "none", "other", "programmer", "retired", "salesman", "scientist", "student",
                      "technician", "writer")
# Titles as MovieLens writes them: the year in brackets, a trailing article after a comma (the
# CSV quotes the field), a non-ASCII letter, a series' year range, one without a year.
_TITLES = ("Story of {i} ({y})", "Night, The {i} ({y})", "Amélie {i} ({y})", "Saga {i} ({y}-{z})",
           "Untitled {i}")


def write(root: str, layout: str = "ml-latest", *, num_users: int = 300, num_movies: int = 400,
          ratings_per_user: tuple[int, int] = (20, 120), seed: int = 0) -> str:
    """Writes the fixture in ``layout`` under ``root`` (created); returns ``root``."""
    if layout not in LAYOUT_FILES:
        raise ValueError(f"layout {layout!r}; expected one of {sorted(LAYOUT_FILES)}")
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    names = ML_LATEST_GENRES if layout == "ml-latest" else ML100K_GENRES[1:]
    g = len(names)
    movies = []  # (id, title, year, genre indices)
    for i in range(num_movies):
        k = 0 if i == num_movies - 1 else rng.integers(1, 4)  # one movie with no genre
        y = int(rng.integers(1930, 2023))
        movies.append((i + 1, _TITLES[i % len(_TITLES)].format(i=i + 1, y=y, z=y + 1), y,
                       sorted(rng.choice(g, size=k, replace=False).tolist())))
    # Tastes: a movie's is the mean of its genres' vectors plus its own part; a user's is random.
    dim = 8
    genre_vec = rng.normal(size=(g, dim))
    movie_vec = np.stack([genre_vec[gs].mean(0) if gs else np.zeros(dim) for *_, gs in movies])
    movie_vec = (movie_vec + 0.5 * rng.normal(size=movie_vec.shape)) / np.sqrt(dim)
    user_vec = rng.normal(size=(num_users, dim))
    popularity = rng.zipf(1.6, size=num_movies).clip(max=200).astype(float)
    movie_bias = rng.normal(0, 0.4, size=num_movies)
    half_stars = layout == "ml-latest"
    ratings = []
    for u in range(num_users):
        affinity = movie_vec @ user_vec[u]
        p = popularity * np.exp(1.5 * affinity)
        n = min(int(rng.integers(*ratings_per_user)), num_movies)
        seen = rng.choice(num_movies, size=n, replace=False, p=p / p.sum())
        stars = 3.3 + 0.9 * affinity[seen] + movie_bias[seen] + rng.normal(0, 0.6, size=n)
        stars = np.clip(np.round(stars * 2) / 2, 0.5, 5.0) if half_stars else np.clip(np.round(stars), 1, 5)
        t = int(rng.integers(946_684_800, 1_600_000_000))  # 2000-2020, then minutes to days apart
        for m, r in zip(seen.tolist(), stars.tolist()):
            t += int(rng.integers(30, 200_000))
            ratings.append((u + 1, m + 1, r, t))
    ratings.sort(key=lambda row: (row[0], row[1]))  # by user, then movie, as ml-latest is
    users = [(u + 1, int(rng.integers(7, 74)), "MF"[int(rng.integers(2))], int(rng.integers(21)),
              f"{int(rng.integers(10_000, 99_999))}") for u in range(num_users)]
    {"ml-100k": _write_100k, "ml-1m": _write_1m, "ml-latest": _write_latest}[layout](
        root, movies, names, users, ratings)
    return root


def _lines(path: str, lines, encoding: str = "latin-1") -> None:
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.writelines(line + "\n" for line in lines)


def _write_100k(root, movies, names, users, ratings):
    j = lambda name: os.path.join(root, name)  # noqa: E731
    _lines(j("u.data"), (f"{u}\t{m}\t{int(r)}\t{t}" for u, m, r, t in ratings))
    _lines(j("u.user"), (f"{u}|{age}|{sex}|{ML100K_OCCUPATIONS[occ]}|{z}" for u, age, sex, occ, z in users))
    _lines(j("u.genre"), (f"{name}|{i}" for i, name in enumerate(ML100K_GENRES)))
    _lines(j("u.occupation"), ML100K_OCCUPATIONS)
    flags = lambda gs: "|".join(  # noqa: E731  ("unknown", then the genres of `names`)
        ["0" if gs else "1"] + ["1" if k in gs else "0" for k in range(len(names))])
    _lines(j("u.item"), (f"{m}|{title}|01-Jan-{y}||http://example.com/{m}|{flags(gs)}"
                         for m, title, y, gs in movies))


def _write_1m(root, movies, names, users, ratings):
    j = lambda name: os.path.join(root, name)  # noqa: E731
    _lines(j("ratings.dat"), (f"{u}::{m}::{int(r)}::{t}" for u, m, r, t in ratings))
    _lines(j("users.dat"), (f"{u}::{sex}::{ML1M_AGES[age % len(ML1M_AGES)]}::{occ % len(ML1M_OCCUPATIONS)}::{z}"
                            for u, age, sex, occ, z in users))
    _lines(j("movies.dat"), (f"{m}::{title}::{'|'.join(names[k] for k in gs)}" for m, title, _, gs in movies))


def _write_latest(root, movies, names, users, ratings):
    with open(os.path.join(root, "movies.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["movieId", "title", "genres"])
        for m, title, _, gs in movies:
            w.writerow([m, title, "|".join(names[k] for k in gs) or "(no genres listed)"])
    _lines(os.path.join(root, "ratings.csv"), ["userId,movieId,rating,timestamp"]
           + [f"{u},{m},{r:.1f},{t}" for u, m, r, t in ratings], encoding="utf-8")
    with open(os.path.join(root, "tags.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        for u, m, _, t in ratings[::50]:
            w.writerow([u, m, "quirky, dark" if m % 2 else "classic", t + 60])
