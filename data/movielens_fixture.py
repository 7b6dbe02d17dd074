"""A small made-up data set in the ml-latest layout (``ratings.csv``, ``movies.csv``, ``tags.csv``,
the real column layout and quoting), for tests, benchmarks and curating the schema of a layout
whose real data is not at hand. MovieLens itself is under a research licence and never copied
into this repository.

The ratings have structure a model can learn, so a pipeline run on them can be blessed: users and
movies have latent tastes over the genres, a user rates the movies nearest their taste more often
(weighted by popularity) and rates them higher. Seeded: the same arguments write the same bytes.
"""

from __future__ import annotations

import csv
import os

import numpy as np

from recsys.data.movielens import ML_LATEST_GENRES

# Titles as ml-latest writes them: the year in brackets, a trailing article after a comma (so the
# CSV quotes the field), a non-ASCII letter, a series' year range, one without a year.
_TITLES = ("Story of {i} ({y})", "Night, The {i} ({y})", "Amélie {i} ({y})", "Saga {i} ({y}-{z})",
           "Untitled {i}")


def write_latest(root: str, *, num_users: int = 300, num_movies: int = 400,
                 ratings_per_user: tuple[int, int] = (20, 120), seed: int = 0) -> str:
    """Writes the fixture under ``root`` (created); returns ``root``."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    g = len(ML_LATEST_GENRES)
    movie_genres = []
    for i in range(num_movies):
        k = 0 if i == num_movies - 1 else rng.integers(1, 4)  # one movie with no genre
        movie_genres.append(sorted(rng.choice(g, size=k, replace=False).tolist()))
    with open(os.path.join(root, "movies.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["movieId", "title", "genres"])
        for i, gs in enumerate(movie_genres):
            y = int(rng.integers(1930, 2023))
            title = _TITLES[i % len(_TITLES)].format(i=i + 1, y=y, z=y + 1)
            w.writerow([i + 1, title, "|".join(ML_LATEST_GENRES[j] for j in gs) or "(no genres listed)"])
    # Tastes: a movie's is the mean of its genres' vectors plus its own part; a user's is random.
    dim = 8
    genre_vec = rng.normal(size=(g, dim))
    movie_vec = np.stack([genre_vec[gs].mean(0) if gs else np.zeros(dim) for gs in movie_genres])
    movie_vec = (movie_vec + 0.5 * rng.normal(size=movie_vec.shape)) / np.sqrt(dim)
    user_vec = rng.normal(size=(num_users, dim))
    popularity = rng.zipf(1.6, size=num_movies).clip(max=200).astype(float)
    movie_bias = rng.normal(0, 0.4, size=num_movies)
    rows = []
    for u in range(num_users):
        affinity = movie_vec @ user_vec[u]
        p = popularity * np.exp(1.5 * affinity)
        n = min(int(rng.integers(*ratings_per_user)), num_movies)
        seen = rng.choice(num_movies, size=n, replace=False, p=p / p.sum())
        stars = 3.3 + 0.9 * affinity[seen] + movie_bias[seen] + rng.normal(0, 0.6, size=n)
        stars = np.clip(np.round(stars * 2) / 2, 0.5, 5.0)
        t = int(rng.integers(946_684_800, 1_600_000_000))  # 2000-2020, then minutes to days apart
        for m, r in zip(seen.tolist(), stars.tolist()):
            t += int(rng.integers(30, 200_000))
            rows.append((u + 1, m + 1, r, t))
    rows.sort(key=lambda row: (row[0], row[1]))  # ml-latest's order: by user, then movie
    with open(os.path.join(root, "ratings.csv"), "w", encoding="utf-8", newline="") as fh:
        fh.write("userId,movieId,rating,timestamp\n")
        fh.writelines(f"{u},{m},{r:.1f},{t}\n" for u, m, r, t in rows)
    with open(os.path.join(root, "tags.csv"), "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        for u, m, _, t in rows[::50]:
            w.writerow([u, m, "quirky, dark" if m % 2 else "classic", t + 60])
    return root
